rule select_tau:
    """The main tau as the validation split would choose it (evaluation.select_tau.metric), beside the configured one."""
    input:
        scores=get_tau_ablation_scores(),
        code=get_code("select-tau"),
    output:
        choice="results/report/select_tau.json",
        table="results/report/select_tau.parquet",
    params:
        cfg=get_params("evaluation", "apprentice"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/select_tau.log",
    threads: 1
    resources:
        **job_resources(mem_mb=2000, runtime=10),
    shell:
        "suti select-tau --params {params.cfg:q} --scores {input.scores} --out {output.choice} > {log} 2>&1"


rule machine_index:
    """The machine index (~30 s, nothing beside it, first): how fast this machine runs the project's work today against
    the reference machine and day, so that the run's minutes compare across days (suti.machine_index)."""
    input:
        base="pretrained/base",
        code=get_code("machine-index"),
    output:
        index="results/machine_index.json",
        table="results/machine_index.parquet",
    conda:
        "../../environment.yml"
    log:
        "results/logs/machine_index.log",
    threads: 2
    priority: 100
    resources:
        cpus=get_all_cpus(),
        **job_resources(mem_mb=2000, runtime=5),
    shell:
        "suti machine-index --base {input.base} --out {output.index} > {log} 2>&1"


rule report:
    input:
        summary="results/eval/summary.parquet",
        machine_index="results/machine_index.json",
        paired="results/eval/paired.parquet",
        tau_choice="results/report/select_tau.json",
        filters=expand("results/filter/{tau}/summary.json", tau=get_taus()),
        generations=[f"results/eval/{bench}/{method}/generations.parquet" for bench in get_benches()
                     if bench.startswith("synthbench") for method in get_eval_methods(bench)],
        clusters="results/mining/clusters.parquet",
        corpus=get_corpus_shards(),
        judge=get_judge_input(),
        code=get_code("report"),
    output:
        markdown=report("results/report/report.md", caption="../report/report_tables.rst", category="Report"),
        summary="results/report/report.json",
        table="results/report/report.parquet",
        csv=["results/report/main.csv", "results/report/demos.csv", "results/report/tau.csv",
             "results/report/speed.csv"],
        demo_ablation=report("results/report/demo_ablation.png", caption="../report/demo_ablation.rst",
                             category="Report"),
        tau_ablation=report("results/report/tau_ablation.png", caption="../report/tau_ablation.rst",
                            category="Report"),
        grid=report("results/report/demos_vs_generations.png", caption="../report/demo_grid.rst", category="Report"),
    params:
        cfg=get_params("apprentice", "world", "evaluation", "judge"),
        judge=get_judge_argument,
    conda:
        "../../environment.yml"
    log:
        "results/logs/report.log",
    threads: 1
    resources:
        **job_resources(mem_mb=2000, runtime=10),
    shell:
        "suti report --params {params.cfg:q} --summary {input.summary} --paired {input.paired} "
        "--tau-choice {input.tau_choice} --machine-index {input.machine_index} "
        "--filter-summaries {input.filters} --generations {input.generations} --clusters {input.clusters} "
        "--corpus {input.corpus} {params.judge} --markdown {output.markdown} --csv {output.csv} --figures {output.demo_ablation} {output.tau_ablation} {output.grid} > {log} 2>&1"
