rule fetch_dreambench:
    output:
        directory("data/dreambench"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/fetch_dreambench.log",
    resources:
        **job_resources(runtime=30),
    shell:
        "suti fetch-dreambench --out {output} > {log} 2>&1"


rule index_dreambench:
    input:
        root=get_dreambench_root(),
        code=get_code("index-dreambench"),
    output:
        images="results/dreambench/images.parquet",
        prompts="results/dreambench/prompts.parquet",
    params:
        resolution=config["dreambench"]["resolution"],
    conda:
        "../../environment.yml"
    log:
        "results/logs/index_dreambench.log",
    resources:
        **job_resources(mem_mb=2000, runtime=10),
    shell:
        "suti index-dreambench --root {input.root} --resolution {params.resolution} "
        "--images {output.images} --prompts {output.prompts} > {log} 2>&1"
