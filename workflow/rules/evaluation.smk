rule evaluate:
    input:
        unpack(get_evaluate_inputs),
        code=get_code("evaluate"),
    output:
        generations="{root}/eval/{bench}/{method}/generations.parquet",
        grid=report(
            "{root}/eval/{bench}/{method}/generations.png",
            caption="../report/eval_generations.rst",
            category="Evaluation",
            subcategory="{bench}",
            labels={"benchmark": "{bench}", "method": "{method}"},
        ),
        summary="{root}/eval/{bench}/{method}/generations.summary.json",
        table="{root}/eval/{bench}/{method}/generations.summary.parquet",
        scores="{root}/eval/{bench}/{method}/scores.parquet",
        scores_summary="{root}/eval/{bench}/{method}/scores.summary.json",
        scores_table="{root}/eval/{bench}/{method}/scores.summary.parquet",
    params:
        cfg=get_evaluate_params,
        inputs=get_evaluate_arguments,
    conda:
        "../../environment.yml"
    log:
        "{root}/logs/evaluate/{bench}/{method}.log",
    threads: 2
    resources:
        **job_resources(mem_mb=4000, runtime=60, accelerated=True),
    shell:
        "suti evaluate --params {params.cfg:q} --bench {wildcards.bench} --method {wildcards.method} "
        "{params.inputs} --out {output.generations} --grid {output.grid} --summary {output.summary} "
        "--scores {output.scores} --scores-summary {output.scores_summary} > {log} 2>&1"


rule time_methods:
    """The speed target's measurement: DreamBooth and the main apprentice on the test split's first subjects,
    interleaved and repeated in one process, with nothing else running beside it."""
    input:
        unpack(lambda wildcards: {"priors": get_priors_input()}),
        base="results/base/model",
        apprentice=f"results/apprentice/{main_apprentice(config['apprentice'])}/model",
        code=get_code("time-methods"),
    output:
        timing="results/eval/timing.parquet",
        summary="results/eval/timing.summary.json",
        table="results/eval/timing.summary.parquet",
    params:
        cfg=get_params("world", "evaluation", "experts", "apprentice"),
        priors=lambda wildcards: get_priors_argument(),
    conda:
        "../../environment.yml"
    log:
        "results/logs/time_methods.log",
    threads: 2
    resources:
        cpus=get_all_cpus(),
        **job_resources(mem_mb=4000, runtime=30, accelerated=True),
    shell:
        "suti time-methods --params {params.cfg:q} --base {input.base} --apprentice {input.apprentice} "
        "{params.priors} --out {output.timing} --summary {output.summary} > {log} 2>&1"


rule eval_table:
    input:
        scores=get_eval_scores(),
        timing=get_timing(),
        code=get_code("eval-table"),
    output:
        markdown=report("results/eval/table.md", caption="../report/eval_table.rst", category="Evaluation"),
        csv="results/eval/table.csv",
        table="results/eval/summary.parquet",
        metrics="results/eval/metrics.json",
        metrics_table="results/eval/metrics.parquet",
        paired="results/eval/paired.parquet",
    params:
        cfg=get_params("evaluation", "apprentice"),
        timing=get_timing_argument,
    conda:
        "../../environment.yml"
    log:
        "results/logs/eval_table.log",
    threads: 1
    resources:
        **job_resources(mem_mb=2000, runtime=10),
    shell:
        "suti eval-table --params {params.cfg:q} --scores {input.scores} {params.timing} --markdown {output.markdown} "
        "--csv {output.csv} --table {output.table} --metrics {output.metrics} --paired {output.paired} > {log} 2>&1"
