rule train_probe:
    input:
        code=get_code("train_probe", "world", "scoring/probe.py", "models/layers.py", "training/checkpoints.py"),
    output:
        model=directory("results/probe/model"),
        summary="results/probe/summary.json",
        table="results/probe/summary.parquet",
    params:
        cfg=get_params("world", "probe"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/train_probe.log",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "suti train-probe --params {params.cfg:q} --model {output.model} --summary {output.summary} > {log} 2>&1"
