rule train_apprentice:
    input:
        samples="results/filter/{tau}/samples.parquet",
        clusters="results/mining/clusters.parquet",
        base="results/base/model",
        code=get_code("train-apprentice"),
    output:
        model=directory("results/apprentice/{tau}/model"),
        summary="results/apprentice/{tau}/train.json",
        table="results/apprentice/{tau}/train.parquet",
        grid=report(
            "results/apprentice/{tau}/samples.png",
            caption="../report/apprentice_samples.rst",
            category="Apprentice",
            labels={"tau": "{tau}"},
        ),
    params:
        cfg=get_params("apprentice"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/train_apprentice/{tau}.log",
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        mem_mb=8000,
        runtime=120,
    shell:
        "suti train-apprentice --params {params.cfg:q} --tau {wildcards.tau} --samples {input.samples} "
        "--clusters {input.clusters} --base {input.base} --model {output.model} --summary {output.summary} "
        "--samples-grid {output.grid} > {log} 2>&1"


rule apprentices:
    """Every apprentice of apprentice.taus (a target for DVC's apprentice stage)."""
    input:
        expand("results/apprentice/{tau}/train.json", tau=get_apprentice_taus()),
