rule train_base:
    input:
        clusters="results/mining/clusters.parquet",
        text_tower=get_text_tower_input(),
        pretrained=get_pretrained_input("base"),
        code=get_code("train-base"),
    output:
        model=directory("results/base/model"),
        summary="results/base/summary.json",
        table="results/base/summary.parquet",
        samples=report(
            "results/base/samples.png",
            caption="../report/base_samples.rst",
            category="Base model",
        ),
    params:
        cfg=get_params("world", "base"),
        text_tower=get_text_tower_argument(),
        pretrained=get_pretrained_argument("base"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/train_base.log",
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        **job_resources(mem_mb=8000, runtime=120, accelerated=True),
    shell:
        "suti train-base --params {params.cfg:q} --clusters {input.clusters} --model {output.model} "
        "--summary {output.summary} --samples {output.samples} {params.text_tower} {params.pretrained} > {log} 2>&1"


rule eval_base:
    input:
        model="results/base/model",
        probe="results/probe/model",
        code=get_code("eval-base"),
    output:
        summary="results/base/quality.json",
        table="results/base/quality.parquet",
        grid=report(
            "results/base/quality.png",
            caption="../report/base_quality.rst",
            category="Base model",
        ),
    params:
        cfg=get_params("world", "base"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/eval_base.log",
    threads: 2
    resources:
        **job_resources(mem_mb=4000, runtime=60, accelerated=True),
    shell:
        "suti eval-base --params {params.cfg:q} --model {input.model} --probe {input.probe} "
        "--summary {output.summary} --grid {output.grid} > {log} 2>&1"
