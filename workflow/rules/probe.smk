rule train_probe:
    input:
        pretrained=get_pretrained_input("probe"),
        code=get_code("train-probe"),
    output:
        model=directory("results/probe/model"),
        summary="results/probe/summary.json",
        table="results/probe/summary.parquet",
    params:
        cfg=get_params("world", "probe"),
        pretrained=get_pretrained_argument("probe"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/train_probe.log",
    threads: 2
    resources:
        **job_resources(mem_mb=4000, runtime=60, accelerated=True),
    shell:
        "suti train-probe --params {params.cfg:q} --model {output.model} --summary {output.summary} {params.pretrained} > {log} 2>&1"
