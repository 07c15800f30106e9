rule mine_clusters:
    input:
        corpus=get_corpus_shards(),
        code=get_code("mine_clusters", "mining", "data", "evaluation"),
    output:
        clusters="results/mining/clusters.parquet",
        summary="results/mining/summary.json",
        table="results/mining/summary.parquet",
        preview=report(
            "results/mining/preview.png",
            caption="../report/mining.rst",
            category="Mining",
        ),
    params:
        cfg=get_params("mining"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/mine_clusters.log",
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "suti mine-clusters --params {params.cfg:q} --corpus {input.corpus} --clusters {output.clusters} "
        "--summary {output.summary} --preview {output.preview} > {log} 2>&1"
