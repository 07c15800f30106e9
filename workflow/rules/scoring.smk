rule train_scorer:
    input:
        corpus=get_corpus_shards(),
        pretrained=get_pretrained_input("clip"),
        code=get_code("train-scorer"),
    output:
        model=directory("results/scorer/model"),
        summary="results/scorer/summary.json",
        table="results/scorer/summary.parquet",
    params:
        cfg=get_params("world", "scorer"),
        pretrained=get_pretrained_argument("clip"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/train_scorer.log",
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        **job_resources(mem_mb=4000, runtime=60, accelerated=True),
    shell:
        "suti train-scorer --params {params.cfg:q} --corpus {input.corpus} --model {output.model} "
        "--summary {output.summary} {params.pretrained} > {log} 2>&1"


rule score_samples:
    input:
        samples="{root}/experts/{shard}/samples.parquet",
        clusters="results/mining/clusters.parquet",
        scorer=get_scorer_input(),
        probe="results/probe/model",
        corpus=get_corpus_shards(),
        code=get_code("score-samples"),
    output:
        scores="{root}/filter/scores/{shard}.parquet",
        summary="{root}/filter/scores/{shard}.summary.json",
        table="{root}/filter/scores/{shard}.summary.parquet",
    params:
        cfg=get_replicate_params("scoring"),
        scorer=get_scorer_argument(),
    conda:
        "../../environment.yml"
    log:
        "{root}/logs/score_samples/{shard}.log",
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        **job_resources(mem_mb=4000, runtime=30),
    shell:
        "suti score-samples --params {params.cfg:q} --samples {input.samples} --clusters {input.clusters} "
        "{params.scorer} --probe {input.probe} --corpus {input.corpus} --out {output.scores} "
        "--summary {output.summary} > {log} 2>&1"


rule filter_samples:
    input:
        samples=lambda w: get_expert_outputs("samples.parquet", w.root),
        scores=lambda w: expand("{root}/filter/scores/{shard}.parquet", root=w.root, shard=get_expert_shards()),
        code=get_code("filter-samples"),
    output:
        samples="{root}/filter/{tau}/samples.parquet",
        counts="{root}/filter/{tau}/counts.parquet",
        summary="{root}/filter/{tau}/summary.json",
        table="{root}/filter/{tau}/summary.parquet",
    params:
        cfg=get_replicate_params("filter"),
    conda:
        "../../environment.yml"
    log:
        "{root}/logs/filter_samples/{tau}.log",
    threads: 1
    priority: lambda w: main_chain_priority(w.tau)
    resources:
        **job_resources(mem_mb=2000, runtime=10),
    shell:
        "suti filter-samples --params {params.cfg:q} --tau {wildcards.tau} --samples {input.samples} "
        "--scores {input.scores} --out {output.samples} --counts {output.counts} --summary {output.summary} "
        "> {log} 2>&1"


rule filtered:
    """Every tau's filtered dataset, in every replicate (a target for DVC's filter stage and for sweeps)."""
    input:
        expand("{root}/filter/{tau}/summary.json", root=get_replicate_roots(), tau=get_taus()),
