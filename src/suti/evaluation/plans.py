"""What every method generates for evaluation: one row per image, the same rows for every method.

- SynthBench: the first `subjects` held-out mined subjects; per subject `prompts_per_category` templates of each
  category (drawn per subject), `n_per_prompt` images each, every image with its own stable seed.
- SynthBench's test split (bench synthbench_test): the same plan for its fresh subjects (`test_split`).
- DreamBench (the DreamBooth paper's protocol): 30 subjects x 25 prompts (object or live set) x N images, prompts in
  the `{0} {1}` convention written with the class noun; at paper settings N = 4, 3,000 images per method.
"""

from __future__ import annotations

import zlib

from suti import streams
from suti.evaluation.config import DreamBenchEval, SynthBenchEval
from suti.experts.config import subject_seed
from suti.world import prompts


def world_seed(params: dict) -> int:
    """The experiment's seed, the world's: a replicate's jobs run with seed + replicate (config `replicates`), but
    render the same subjects, look-alikes and references as replicate 0, so that every comparison stays paired."""
    return int(params["seed"]) - int(params.get("replicate", 0))


def eval_seed(seed: int, bench: str, subject: str, prompt_id: str, index: int) -> int:
    """The seed of one evaluation image: a stable function of what it depicts, the same for every method."""
    return zlib.crc32(f"eval/{seed}/{bench}/{subject}/{prompt_id}/{index}".encode()) & 0x7FFFFFFF


def synthbench_plan(subjects: list[tuple[str, str]], cfg: SynthBenchEval, seed: int,
                    bench: str = "synthbench") -> list[dict]:
    """Rows for `subjects` [(name, class noun)] (held-out cluster ids; the test split's names on bench
    synthbench_test), sorted by name, the first `cfg.subjects` of them."""
    chosen = sorted(subjects)[:cfg.subjects] if cfg.subjects is not None else sorted(subjects)
    rows = []
    for subject, cls in chosen:
        for template in prompts.choose_templates([subject_seed(seed, subject), streams.EVAL_TEMPLATES], cfg.prompts_per_category):
            for i in range(cfg.n_per_prompt):
                rows.append(dict(bench=bench, subject=subject, class_noun=cls, prompt_id=template.prompt_id,
                                 category=template.category, prompt=template.format(cls),
                                 seed=eval_seed(seed, bench, subject, template.prompt_id, i)))
    return rows


def dreambench_prompt(template: str, class_noun: str) -> str:
    """DreamBench's `'a {0} {1} on the beach'.format(unique_token, class_token)` written with the class noun only."""
    return template.replace("{0} {1}", "{1}").format(None, class_noun)


def dreambench_plan(subjects: list[tuple[str, str, bool]], templates: dict, cfg: DreamBenchEval,
                    seed: int) -> list[dict]:
    """Rows for DreamBench `subjects` [(name, class, live)] with `templates` {"object": [...], "live": [...]}."""
    chosen = sorted(subjects)[:cfg.subjects] if cfg.subjects is not None else sorted(subjects)
    rows = []
    for name, cls, live in chosen:
        kind = "live" if live else "object"
        for index, template in enumerate(templates[kind][:cfg.prompts]):
            prompt_id = f"{kind}{index:02d}"
            for i in range(cfg.n_per_prompt):
                rows.append(dict(bench="dreambench", subject=name, class_noun=cls, prompt_id=prompt_id,
                                 category=kind, prompt=dreambench_prompt(template, cls),
                                 seed=eval_seed(seed, "dreambench", name, prompt_id, i)))
    return rows
