rule generate_eval:
    input:
        unpack(get_generate_eval_inputs),
        code=get_code("generate_eval", "evaluation", "models", "diffusion", "world", "data", "apprentice", "experts",
                      "stages/sample_priors.py", "stages/train_experts.py"),
    output:
        generations="results/eval/{bench}/{method}/generations.parquet",
        grid=report(
            "results/eval/{bench}/{method}/generations.png",
            caption="../report/eval_generations.rst",
            category="Evaluation",
            subcategory="{bench}",
            labels={"benchmark": "{bench}", "method": "{method}"},
        ),
        summary="results/eval/{bench}/{method}/generations.summary.json",
        table="results/eval/{bench}/{method}/generations.summary.parquet",
    params:
        cfg=get_generate_eval_params,
        inputs=get_generate_eval_arguments,
    conda:
        "../../environment.yml"
    log:
        "results/logs/generate_eval/{bench}/{method}.log",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "suti generate-eval --params {params.cfg:q} --bench {wildcards.bench} --method {wildcards.method} "
        "{params.inputs} --out {output.generations} --grid {output.grid} --summary {output.summary} > {log} 2>&1"


rule score_eval:
    input:
        unpack(get_score_eval_inputs),
        generations="results/eval/{bench}/{method}/generations.parquet",
        code=get_code("score_eval", "evaluation", "scoring", "data", "stages/score_samples.py",
                      "stages/train_probe.py"),
    output:
        scores="results/eval/{bench}/{method}/scores.parquet",
        summary="results/eval/{bench}/{method}/scores.summary.json",
        table="results/eval/{bench}/{method}/scores.summary.parquet",
    params:
        cfg=get_params("scoring", "evaluation"),
        inputs=get_score_eval_arguments,
    conda:
        "../../environment.yml"
    log:
        "results/logs/score_eval/{bench}/{method}.log",
    threads: 2
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "suti score-eval --params {params.cfg:q} --generations {input.generations} {params.inputs} "
        "--out {output.scores} --summary {output.summary} > {log} 2>&1"


rule eval_table:
    input:
        scores=get_eval_scores(),
        code=get_code("eval_table", "evaluation"),
    output:
        markdown=report("results/eval/table.md", caption="../report/eval_table.rst", category="Evaluation"),
        csv="results/eval/table.csv",
        table="results/eval/summary.parquet",
        metrics="results/eval/metrics.json",
        metrics_table="results/eval/metrics.parquet",
    params:
        cfg=get_params("evaluation"),
    conda:
        "../../environment.yml"
    log:
        "results/logs/eval_table.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "suti eval-table --params {params.cfg:q} --scores {input.scores} --markdown {output.markdown} "
        "--csv {output.csv} --table {output.table} --metrics {output.metrics} > {log} 2>&1"
