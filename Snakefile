# suti: SuTI (subject-driven text-to-image generation via apprenticeship learning) as a Snakemake workflow.
#   snakemake --profile workflow/profiles/default all                              # default experiment (CPU)
#   snakemake --profile workflow/profiles/default all --configfile config/micro.yaml  # CI scale

# config/config.yaml holds the defaults; workflow/rules/common.smk reads it (and names the line of a YAML error)


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/mining.smk"
include: "workflow/rules/dreambench.smk"
include: "workflow/rules/probe.smk"
include: "workflow/rules/base.smk"
include: "workflow/rules/experts.smk"
include: "workflow/rules/scoring.smk"
include: "workflow/rules/apprentice.smk"
include: "workflow/rules/evaluation.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/pretrain.smk"


rule all:
    input:
        get_final_outputs(),
    default_target: True
