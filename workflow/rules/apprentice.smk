# The apprentice in two phases (suti train-apprentice --phase ...): in-context training on the mined clusters (from
# the released in-context apprentice, pretrained/apprentice, or the base model: apprentice.init), once per replicate
# ({root}: see common.smk), then one imitation of the experts' filtered samples per tau, started from it. With
# apprentice.source_ablation, rule train_apprentice also trains the main tau's apprentice on the experts' samples
# alone (`<tau>-from-base`); the clusters-only apprentice is the first phase's own output. With apprentice.distill,
# rule distill_apprentice distils the main tau's apprentice's guidance (`<tau>-distilled`).


rule train_apprentice_clusters:
    input:
        clusters="results/mining/clusters.parquet",
        init=get_apprentice_clusters_init(),
        scorer=get_scorer_input(),
        code=get_code("train-apprentice"),
    output:
        model=directory("{root}/apprentice/clusters/model"),
        summary="{root}/apprentice/clusters/train.json",
        table="{root}/apprentice/clusters/train.parquet",
        grid=report(
            "{root}/apprentice/clusters/samples.png",
            caption="../report/apprentice_samples.rst",
            category="Apprentice",
            labels={"apprentice": "clusters"},
        ),
    params:
        cfg=get_replicate_params("apprentice", "scoring"),
        scorer=get_scorer_argument(),
    conda:
        "../../environment.yml"
    log:
        "{root}/logs/train_apprentice/clusters.log",
    threads: 2
    priority: CHAIN_PRIORITY
    resources:
        **job_resources(mem_mb=8000, runtime=120, accelerated=True),
    shell:
        "suti train-apprentice --params {params.cfg:q} --phase clusters --clusters {input.clusters} "
        "--init {input.init} {params.scorer} --model {output.model} --summary {output.summary} "
        "--samples-grid {output.grid} > {log} 2>&1"


rule train_apprentice:
    """One tau's imitation of the experts' samples: `<tau>` from the clusters-pretrained apprentice, `<tau>-from-base`
    (the source ablation's experts-only apprentice) from the base model."""
    input:
        samples=lambda w: f"{w.root}/filter/{get_apprentice_tau(w)}/samples.parquet",
        clusters="results/mining/clusters.parquet",
        init=get_apprentice_init,
        scorer=get_apprentice_scorer_input,
        code=get_code("train-apprentice"),
    output:
        model=directory(f"{{root}}/apprentice/{{name,(?:{TAU_PATTERN})(?:{FROM_BASE})?}}/model"),
        summary="{root}/apprentice/{name}/train.json",
        table="{root}/apprentice/{name}/train.parquet",
        grid=report(
            "{root}/apprentice/{name}/samples.png",
            caption="../report/apprentice_samples.rst",
            category="Apprentice",
            labels={"apprentice": "{name}"},
        ),
    params:
        cfg=get_replicate_params("apprentice", "scoring"),
        tau=get_apprentice_tau,
        scorer=get_apprentice_scorer_argument,
    conda:
        "../../environment.yml"
    log:
        "{root}/logs/train_apprentice/{name}.log",
    threads: 2
    priority: lambda w: main_chain_priority(w.name)
    resources:
        **job_resources(mem_mb=8000, runtime=120, accelerated=True),
    shell:
        "suti train-apprentice --params {params.cfg:q} --phase experts --tau {params.tau} "
        "--samples {input.samples} --clusters {input.clusters} --init {input.init} {params.scorer} "
        "--model {output.model} --summary {output.summary} --samples-grid {output.grid} > {log} 2>&1"


rule distill_apprentice:
    """Guidance distillation (apprentice.distill) of one tau's trained apprentice on the samples it imitated: the
    main comparison's apprentice when apprentice.distill.steps > 0."""
    input:
        samples="{root}/filter/{tau}/samples.parquet",
        clusters="results/mining/clusters.parquet",
        init="{root}/apprentice/{tau}/model",
        code=get_code("train-apprentice"),
    output:
        model=directory(f"{{root}}/apprentice/{{tau}}{DISTILLED}/model"),
        summary=f"{{root}}/apprentice/{{tau}}{DISTILLED}/train.json",
        table=f"{{root}}/apprentice/{{tau}}{DISTILLED}/train.parquet",
        grid=report(
            f"{{root}}/apprentice/{{tau}}{DISTILLED}/samples.png",
            caption="../report/apprentice_samples.rst",
            category="Apprentice",
            labels={"apprentice": f"{{tau}}{DISTILLED}"},
        ),
    wildcard_constraints:
        tau=TAU_PATTERN,
    params:
        cfg=get_replicate_params("apprentice", "scoring"),
    conda:
        "../../environment.yml"
    log:
        f"{{root}}/logs/train_apprentice/{{tau}}{DISTILLED}.log",
    threads: 2
    priority: lambda w: main_chain_priority(w.tau)
    resources:
        **job_resources(mem_mb=8000, runtime=120, accelerated=True),
    shell:
        "suti train-apprentice --params {params.cfg:q} --phase distill --tau {wildcards.tau} "
        "--samples {input.samples} --clusters {input.clusters} --init {input.init} "
        "--model {output.model} --summary {output.summary} --samples-grid {output.grid} > {log} 2>&1"


rule apprentices:
    """Every apprentice of apprentice.taus, the distilled main one and the source ablation's, in every replicate (a
    target for DVC's apprentice stage)."""
    input:
        expand("{root}/apprentice/{tau}/train.json", root=get_replicate_roots(), tau=get_apprentice_taus()),
        [path for root in get_replicate_roots() for path in get_source_ablation_apprentices(root)],
        [path for root in get_replicate_roots() for path in get_distilled_apprentice(root)],
