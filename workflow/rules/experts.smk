rule sample_priors:
    input:
        base="results/base/model",
        code=get_code("sample-priors"),
    output:
        priors="results/experts/priors.parquet",
    params:
        cfg=get_params("experts"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/sample_priors.log",
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        **job_resources(mem_mb=4000, runtime=30, accelerated=True),
    shell:
        "suti sample-priors --params {params.cfg:q} --base {input.base} --out {output.priors} > {log} 2>&1"


rule train_experts:
    input:
        clusters="results/mining/clusters.parquet",
        base="results/base/model",
        priors=get_priors_input(),
        code=get_code("train-experts"),
    output:
        model=directory("{root}/experts/{shard}/model"),
        summary="{root}/experts/{shard}/train.json",
        table="{root}/experts/{shard}/train.parquet",
    params:
        cfg=get_replicate_params("experts"),
        priors=get_priors_argument(),
    conda:
        "../../environment.yml"
    log:
        "{root}/logs/train_experts/{shard}.log",
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        **job_resources(mem_mb=8000, runtime=120, accelerated=True),
    shell:
        "suti train-experts --params {params.cfg:q} --shard {wildcards.shard} --clusters {input.clusters} "
        "--base {input.base} {params.priors} --out {output.model} --summary {output.summary} > {log} 2>&1"


rule sample_experts:
    input:
        base="results/base/model",
        experts="{root}/experts/{shard}/model",
        code=get_code("sample-experts"),
    output:
        samples="{root}/experts/{shard}/samples.parquet",
        grid="{root}/experts/{shard}/samples.png",
        summary="{root}/experts/{shard}/sample.json",
        table="{root}/experts/{shard}/sample.parquet",
    params:
        cfg=get_replicate_params("experts"),
    conda:
        "../../environment.yml"
    log:
        "{root}/logs/sample_experts/{shard}.log",
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        **job_resources(mem_mb=4000, runtime=60, accelerated=True),
    shell:
        "suti sample-experts --params {params.cfg:q} --base {input.base} --experts {input.experts} "
        "--out {output.samples} --grid {output.grid} --summary {output.summary} > {log} 2>&1"


rule eval_experts:
    input:
        samples=get_expert_outputs("samples.parquet"),
        base="results/base/model",
        probe="results/probe/model",
        clusters="results/mining/clusters.parquet",
        corpus=get_corpus_shards(),
        code=get_code("eval-experts"),
    output:
        summary="results/experts/quality.json",
        summary_table="results/experts/quality.parquet",
        table="results/experts/quality_subjects.parquet",
        grid=report(
            "results/experts/quality.png",
            caption="../report/expert_quality.rst",
            category="Experts",
        ),
    params:
        cfg=get_params("experts"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/eval_experts.log",
    threads: 2
    resources:
        **job_resources(mem_mb=4000, runtime=60, accelerated=True),
    shell:
        "suti eval-experts --params {params.cfg:q} --samples {input.samples} --base {input.base} "
        "--probe {input.probe} --clusters {input.clusters} --corpus {input.corpus} --summary {output.summary} "
        "--table {output.table} --grid {output.grid} > {log} 2>&1"
