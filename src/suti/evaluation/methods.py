"""The methods an evaluation compares, by name (the `{method}` wildcard of results/eval/{bench}/{method}/).

  base                the base model, prompt with the class noun only
  oracle              real images (SynthBench: ground-truth renders of each prompt; DreamBench: leave-one-out photos)
  experts-k<K>        DreamBooth: an expert fine-tuned on each subject's K demonstrations (SynthBench only: the
                      class-prior images exist for SynthBench's classes)
  suti-<A>-k<K>       apprentice A given K demonstrations of each subject. A names its training (the folder
                      results/apprentice/<A>/): <tau> = pretrained on the clusters, then imitating the experts'
                      samples kept at filter tau ("none" or "0.100"); clusters = the clusters only;
                      <tau>-from-base = the experts' samples only, from the base model; <tau>-distilled = <tau>'s
                      apprentice with its guidance distilled (one network pass per sampler step)
  dreamsuti-<A>-k<K>  Dream-SuTI: that apprentice briefly fine-tuned on each subject's K demonstrations first
  suti-<A>-k<K>-wide  the demonstration ablation's runs on its own, wider set of held-out subjects
                      (evaluation.synthbench.demo_subjects, where it differs from evaluation.synthbench.subjects):
                      the apprentices are cheap to run, DreamBooth is not, and separating 1 from 5 demonstrations
                      takes more subjects than the comparison with DreamBooth does

The comparison and the ablations are expanded from config: the main apprentice (apprentice.main_tau's, guidance
distilled where apprentice.distill.steps > 0, beside the undistilled one) at apprentice.demos demonstrations; the
same apprentice at every count of apprentice.demo_ablation; every apprentice of
apprentice.taus at apprentice.demos; with apprentice.source_ablation, the clusters-only and experts-only apprentices
at apprentice.demos (the ablations on SynthBench only; DreamBench gets the main comparison). Dream-SuTI runs the main
apprentice at apprentice.demos. With a wider demonstration ablation, every count of apprentice.demo_ablation runs
`-wide` (the main count too, so that the ablation's rows share one subject set).
"""

from __future__ import annotations

import dataclasses
import re

from suti.errors import SutiError
from suti.scoring.metrics import TAU_PATTERN, tau_name

CLUSTERS_ONLY = "clusters"      # the apprentice after in-context pretraining alone
FROM_BASE = "-from-base"        # suffix of a tau's apprentice trained on the experts' samples alone
DISTILLED = "-distilled"        # suffix of a tau's apprentice with its guidance distilled
# Every apprentice name, and every method name, as one pattern (the {apprentice} and {method} wildcards)
APPRENTICE_PATTERN = rf"{CLUSTERS_ONLY}|(?:{TAU_PATTERN})(?:{FROM_BASE}|{DISTILLED})?"
WIDE = "-wide"                  # suffix of an apprentice's run on the demonstration ablation's subjects
METHOD_PATTERN = rf"base|oracle|experts-k\d+|(?:dream)?suti-(?:{APPRENTICE_PATTERN})-k\d+(?:{WIDE})?"
_APPRENTICE = re.compile(rf"^(suti|dreamsuti)-({APPRENTICE_PATTERN})-k(\d+)({WIDE})?$")
_EXPERTS = re.compile(r"^experts-k(\d+)$")


APPRENTICE_KINDS = ("suti", "dreamsuti")  # the methods that run an apprentice (of filter tau)


@dataclasses.dataclass(frozen=True)
class Method:
    kind: str           # base | oracle | experts | suti | dreamsuti
    tau: str = ""       # the apprentice's name ("none", "0.100", "clusters", "0.100-from-base"); "" where none runs
    demos: int = 0      # demonstrations given per subject
    wide: bool = False  # on the demonstration ablation's subjects (evaluation.synthbench.demo_subjects)

    @property
    def name(self) -> str:
        if self.kind in APPRENTICE_KINDS:
            return f"{self.kind}-{self.tau}-k{self.demos}" + (WIDE if self.wide else "")
        return f"experts-k{self.demos}" if self.kind == "experts" else self.kind

    @property
    def subset(self) -> str:
        """Which held-out subjects it runs on (the `subset` column of its scores): "" the comparison's
        (evaluation.synthbench.subjects), "wide" the demonstration ablation's (demo_subjects)."""
        return WIDE.removeprefix("-") if self.wide else ""


def apprentice_label(name: str) -> str:
    """How tables name an apprentice: "tau 0.100", "clusters only", "tau 0.100, experts only"."""
    if name == CLUSTERS_ONLY:
        return "clusters only"
    if name.endswith(FROM_BASE):
        return f"tau {name.removesuffix(FROM_BASE)}, experts only"
    if name.endswith(DISTILLED):
        return f"tau {name.removesuffix(DISTILLED)}, guidance distilled"
    return f"tau {name}"


def main_apprentice(apprentice: dict) -> str:
    """The apprentice of the main comparison, the demonstration ablation and the targets (config `apprentice`): the
    main tau's, guidance distilled when apprentice.distill.steps > 0 (what a user would run)."""
    distilled = apprentice.get("distill", {}).get("steps", 0) > 0
    return tau_name(apprentice["main_tau"]) + (DISTILLED if distilled else "")


def parse_method(name: str) -> Method:
    if name in ("base", "oracle"):
        return Method(name)
    if m := _APPRENTICE.match(name):
        return Method(m.group(1), m.group(2), int(m.group(3)), wide=bool(m.group(4)))
    if m := _EXPERTS.match(name):
        return Method("experts", "", int(m.group(1)))
    raise SutiError(f"unknown evaluation method {name!r} (base, oracle, experts-k<K>, suti-<tau>-k<K> or "
                    "dreamsuti-<tau>-k<K>)")


TIMING_BENCH = "timing"  # the bench name of the speed measurement's rows (rule time_methods) in the paired table


def wide_demo_ablation(synthbench: dict) -> bool:
    """Whether the demonstration ablation runs on subjects of its own (config `evaluation.synthbench`)."""
    return synthbench.get("demo_subjects", synthbench.get("subjects")) != synthbench.get("subjects")


def method_names(kinds, apprentice: dict, bench: str, wide_demos: bool = False, test_split: bool = False) -> list[str]:
    """Every method name to evaluate on `bench` for config `evaluation.methods` (kinds) and section `apprentice`;
    `wide_demos`: the demonstration ablation on its own subjects (`wide_demo_ablation`); `test_split`: the test
    split runs (bench synthbench_test, `evaluation.test.enabled`), so the comparison with DreamBooth and Dream-SuTI is
    made there and the held-out mined subjects (bench synthbench, validation) keep the ablations."""
    compared = not (bench == "synthbench" and test_split)
    names = [k for k in ("base", "oracle") if k in kinds]
    # DreamBench's classes have no class-prior images
    if "experts" in kinds and bench in ("synthbench", "synthbench_test") and compared:
        names.append(Method("experts", "", apprentice["demos"]).name)
    if "suti" in kinds:
        main, main_tau, k = main_apprentice(apprentice), tau_name(apprentice["main_tau"]), apprentice["demos"]
        wanted = [(main, k), (main_tau, k)]
        if bench == "synthbench":
            if not wide_demos:
                wanted += [(main, d) for d in apprentice["demo_ablation"]]
            wanted += [(tau_name(t), k) for t in apprentice["taus"]]
            if apprentice["source_ablation"] and apprentice["clusters"]["steps"] > 0:
                wanted += [(CLUSTERS_ONLY, k), (main_tau + FROM_BASE, k)]
        for tau, demos in dict.fromkeys(wanted):
            names.append(Method("suti", tau, demos).name)
        if bench == "synthbench" and wide_demos:
            names += [Method("suti", main, d, wide=True).name for d in dict.fromkeys(apprentice["demo_ablation"])]
    if "dreamsuti" in kinds and compared:
        names.append(Method("dreamsuti", tau_name(apprentice["main_tau"]), apprentice["demos"]).name)
    return names


def in_main_comparison(name: str, apprentice: dict) -> bool:
    """Whether method `name` is a row of the main comparison (config section `apprentice`): base, oracle, DreamBooth,
    the main apprentice (distilled and not) and Dream-SuTI at apprentice.demos demonstrations; the rows whose
    seconds per subject the speed target compares."""
    method = parse_method(name)
    if method.kind in ("base", "oracle"):
        return True
    if method.wide:
        return False
    main = {main_apprentice(apprentice), tau_name(apprentice["main_tau"])}
    return method.demos == apprentice["demos"] and (method.kind == "experts" or method.tau in main)
