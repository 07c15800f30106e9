rule build_corpus:
    input:
        source=get_corpus_source(),
        code=get_code("build-corpus"),
    output:
        shards=get_corpus_shards(),
        rejected="results/corpus/rejected.parquet",
        summary="results/corpus/summary.json",
        table="results/corpus/summary.parquet",
        preview=report(
            "results/corpus/preview.png",
            caption="../report/corpus.rst",
            category="Corpus",
        ),
    params:
        cfg=get_params("world", "corpus"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/build_corpus.log",
    threads: 1
    resources:
        **job_resources(mem_mb=2000, runtime=30),
    shell:
        "suti build-corpus --params {params.cfg:q} --shards {output.shards} "
        "--rejected {output.rejected} --summary {output.summary} --preview {output.preview} > {log} 2>&1"
