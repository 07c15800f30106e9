# Pretraining of the foundation models, run rarely: snakemake pretrain --configfile config/pretrain.yaml
# Trains the small CLIP, the probe and the base model on the pretraining render stream (identities no experiment
# contains), then `release_pretrained` copies them into pretrained/ with provenance (commit that folder to ship them);
# the in-context apprentice follows from the base model (`pretrain_apprentice`); the judges, which only score
# evaluation images, train on their own (`pretrain_judge`: the identity judge; `pretrain_eval_clip`: the evaluation
# CLIP); each of these three is released alone by release_pretrained_one.


rule pretrain_clip:
    input:
        code=get_code("pretrain-clip"),
    output:
        model=directory("results/pretrain/clip/model"),
        summary="results/pretrain/clip/summary.json",
        table="results/pretrain/clip/summary.parquet",
    params:
        cfg=get_pretrain_params(["scorer"], ["clip"]),
    conda:
        "../../environment.yml"
    log:
        "results/logs/pretrain_clip.log",
    threads: 2
    resources:
        **job_resources(mem_mb=8000, runtime=120, accelerated=True),
    shell:
        "suti pretrain-clip --params {params.cfg:q} --model {output.model} --summary {output.summary} > {log} 2>&1"


rule pretrain_eval_clip:
    """The evaluation CLIP: it only scores evaluation images (CLIP-I, CLIP-T); its own seed, stream and vocabulary;
    released alone (release_pretrained_one)."""
    input:
        code=get_code("pretrain-clip"),
    output:
        model=directory("results/pretrain/eval_clip/model"),
        summary="results/pretrain/eval_clip/summary.json",
        table="results/pretrain/eval_clip/summary.parquet",
    params:
        cfg=get_pretrain_params(["scorer"], ["eval_clip"]),
    conda:
        "../../environment.yml"
    log:
        "results/logs/pretrain_eval_clip.log",
    threads: 2
    resources:
        **job_resources(mem_mb=8000, runtime=120, accelerated=True),
    shell:
        "suti pretrain-clip --role evaluation --params {params.cfg:q} --model {output.model} "
        "--summary {output.summary} > {log} 2>&1"


rule pretrain_probe:
    input:
        code=get_code("pretrain-probe"),
    output:
        model=directory("results/pretrain/probe/model"),
        summary="results/pretrain/probe/summary.json",
        table="results/pretrain/probe/summary.parquet",
    params:
        cfg=get_pretrain_params(["probe"], ["probe"]),
    conda:
        "../../environment.yml"
    log:
        "results/logs/pretrain_probe.log",
    threads: 2
    resources:
        **job_resources(mem_mb=4000, runtime=60, accelerated=True),
    shell:
        "suti pretrain-probe --params {params.cfg:q} --model {output.model} --summary {output.summary} > {log} 2>&1"


rule pretrain_judge:
    """The identity judge: it only scores (the evaluation's identity metrics); released alone (release_pretrained_one)."""
    input:
        code=get_code("pretrain-judge"),
    output:
        model=directory("results/pretrain/judge/model"),
        summary="results/pretrain/judge/summary.json",
        table="results/pretrain/judge/summary.parquet",
    params:
        cfg=get_pretrain_params(["judge"], ["judge"]),
    conda:
        "../../environment.yml"
    log:
        "results/logs/pretrain_judge.log",
    threads: 2
    resources:
        **job_resources(mem_mb=4000, runtime=90, accelerated=True),
    shell:
        "suti pretrain-judge --params {params.cfg:q} --model {output.model} --summary {output.summary} > {log} 2>&1"


rule pretrain_base:
    input:
        unpack(get_pretrain_base_input),
        code=get_code("pretrain-base"),
    output:
        model=directory("results/pretrain/base/model"),
        summary="results/pretrain/base/summary.json",
        table="results/pretrain/base/summary.parquet",
        samples="results/pretrain/base/samples.png",
    params:
        cfg=get_pretrain_params(["base"], ["base"]),
        tower=get_pretrain_base_tower,
    conda:
        "../../environment.yml"
    log:
        "results/logs/pretrain_base.log",
    threads: 2
    resources:
        **job_resources(mem_mb=8000, runtime=180, accelerated=True),
    shell:
        "suti pretrain-base --params {params.cfg:q} {params.tower} --probe {input.probe} "
        "--model {output.model} --summary {output.summary} --samples {output.samples} > {log} 2>&1"


rule pretrain_apprentice:
    """SynthBench's Re-Imagen: the in-context apprentice pretrained from the base model on stream identities, after
    the base model, CLIP and probe (released alone: rule release_pretrained_one)."""
    input:
        unpack(get_pretrain_apprentice_input),
        code=get_code("pretrain-apprentice"),
    output:
        model=directory("results/pretrain/apprentice/model"),
        summary="results/pretrain/apprentice/summary.json",
        table="results/pretrain/apprentice/summary.parquet",
        samples="results/pretrain/apprentice/samples.png",
    params:
        cfg=get_pretrain_params(["base", "scorer", "apprentice"], ["apprentice"]),
        init_from=lambda wildcards, input: f"--init-from {input.init_from}" if "init_from" in input.keys() else "",
    conda:
        "../../environment.yml"
    log:
        "results/logs/pretrain_apprentice.log",
    threads: 2
    resources:
        **job_resources(mem_mb=8000, runtime=180, accelerated=True),
    shell:
        "suti pretrain-apprentice --params {params.cfg:q} --base {input.base} --clip {input.clip} "
        "{params.init_from} "
        "--probe {input.probe} --model {output.model} --summary {output.summary} --samples {output.samples} "
        "> {log} 2>&1"


rule release_pretrained:
    input:
        clip="results/pretrain/clip/model",
        clip_summary="results/pretrain/clip/summary.json",
        probe="results/pretrain/probe/model",
        probe_summary="results/pretrain/probe/summary.json",
        base="results/pretrain/base/model",
        base_summary="results/pretrain/base/summary.json",
        samples="results/pretrain/base/samples.png",
        code=get_code("release-pretrained"),
    output:
        record="results/pretrain/release.json",
    params:
        cfg=get_pretrain_params(["scorer", "probe", "base"], ["clip", "probe", "base"]),
    conda:
        "../../environment.yml"
    log:
        "results/logs/release_pretrained.log",
    shell:
        "suti release-pretrained --params {params.cfg:q} --clip {input.clip} --clip-summary {input.clip_summary} "
        "--probe {input.probe} --probe-summary {input.probe_summary} --base {input.base} "
        "--base-summary {input.base_summary} --samples {input.samples} --out pretrained "
        "--record {output.record} > {log} 2>&1"


# One model released alone (a longer CLIP, a continued base model), the others' folders untouched:
#   snakemake ... results/pretrain/release-base.json --configfile config/pretrain.yaml [overlay.yaml]
rule release_pretrained_one:
    input:
        model="results/pretrain/{name}/model",
        summary="results/pretrain/{name}/summary.json",
        samples=get_release_one_samples,
        reading_judge=lambda wildcards: "pretrained/judge" if wildcards.name == "apprentice" else [],
        code=get_code("release-pretrained"),
    output:
        record="results/pretrain/release-{name}.json",
    wildcard_constraints:
        name="clip|eval_clip|probe|base|apprentice|judge",
    params:
        cfg=get_release_one_params,
        samples=lambda wildcards, input: f"--samples {input.samples}" if input.samples else "",
        reading_judge=lambda wildcards, input: (f"--reading-judge {input.reading_judge}" if input.reading_judge
                                                else ""),
    conda:
        "../../environment.yml"
    log:
        "results/logs/release_pretrained_{name}.log",
    shell:
        "suti release-pretrained --params {params.cfg:q} --only {wildcards.name} --{wildcards.name} {input.model} "
        "--{wildcards.name}-summary {input.summary} {params.samples} {params.reading_judge} --out pretrained "
        "--record {output.record} "
        "> {log} 2>&1"


rule pretrain:
    input:
        "results/pretrain/release.json",
        "results/pretrain/release-apprentice.json",
        "results/pretrain/release-judge.json",
        "results/pretrain/release-eval_clip.json",
