rule mine_clusters:
    input:
        corpus=get_corpus_shards(),
        scorer=get_mining_scorer_input(),
        code=get_code("mine-clusters"),
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
        cfg=get_mining_params(),
        scorer=get_mining_scorer_argument(),
    conda:
        "../../environment.yml"
    log:
        "results/logs/mine_clusters.log",
    threads: 1
    priority: CHAIN_PRIORITY
    resources:
        **job_resources(mem_mb=4000, runtime=60),
    shell:
        "suti mine-clusters --params {params.cfg:q} --corpus {input.corpus} --clusters {output.clusters} "
        "--summary {output.summary} --preview {output.preview} {params.scorer} > {log} 2>&1"
