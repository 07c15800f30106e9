"""Seconds per subject from demonstrations to its images at the default size, side by side in one process: SuTI (the
apprentice, no optimisation: guidance's two network passes per sampler step, and guidance distilled into one),
Dream-SuTI (the apprentice tuned briefly on the subject first) and DreamBooth (an expert fine-tuned on the subject,
one subject at a time as users run it: LoRA as the experts train, and full fine-tuning as the DreamBooth paper does),
each then rendering the same images of the evaluation plan.

Speed does not depend on the weights, so the models are freshly initialised at the default config's sizes; steps,
sampler and image counts come from config/config.yaml (evaluation.*, experts.*, apprentice.*). Compilation is
excluded: each method renders a warm-up subject first, as the evaluation does. The pipeline's `evaluate` jobs time
the same thing but share the machine with other jobs; this bench is the uncontended figure.
Run: `python bench/bench_speed.py [--subjects 3]`; writes bench/out/speed.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile

import jax
import numpy as np

from suti import io
from suti.apprentice.encoder import DemoEncoder
from suti.apprentice.pipeline import ApprenticePipeline
from suti.apprentice.training import init_apprentice
from suti.config import default_config, from_dict
from suti.evaluation import generators, plans
from suti.evaluation.config import EvaluationConfig
from suti.experts.config import ExpertsSection
from suti.experts.prompts import class_prompt
from suti.models.pipeline import TextToImagePipeline
from suti.scoring.clip import ClipSpec
from suti.training.base_model import BaseConfig, init_base, model_config, timing_tower
from suti.world import vocab


def seconds_per_subject(rows, render) -> float:
    """Mean wall-clock seconds per subject (the first subject rendered twice: its first pass compiles)."""
    _, seconds = generators.generate(rows, render)
    return float(np.mean(list(seconds.values())))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--subjects", type=int, default=3, help="timed subjects per method")
    p.add_argument("--out", default="bench/out/speed.json")
    args = p.parse_args()
    config = default_config()
    base_cfg = from_dict(BaseConfig, config["base"])
    experts = from_dict(ExpertsSection, config["experts"])
    evaluation = from_dict(EvaluationConfig, config["evaluation"])
    k, max_demos = int(config["apprentice"]["demos"]), int(config["apprentice"]["max_demos"])
    res = int(config["world"]["resolution"])

    subjects = [(f"subject{i}", vocab.CLASSES[i % len(vocab.CLASSES)]) for i in range(args.subjects)]
    rows = plans.synthbench_plan(subjects, evaluation.synthbench, seed=0)
    texts = [r["prompt"] for r in rows] + [class_prompt(c) for c in vocab.CLASSES]  # identifiers are reserved
    tower = timing_tower(config)
    model_cfg = model_config(base_cfg.model, res, tower)
    tokenizer, graphdef, params = init_base(model_cfg, texts, 0, tower)
    base = TextToImagePipeline(graphdef, params, tokenizer, model_cfg, base_cfg.diffusion)
    encoder = DemoEncoder.load(ClipSpec(), "pretrained/clip")  # the shipped small CLIP: its real cost
    g, a = init_apprentice(base, max_demos, encoder.dim, 0)
    apprentice = ApprenticePipeline(g, jax.tree.map(np.array, a), tokenizer, model_cfg, base_cfg.diffusion, max_demos,
                                    encoder)

    rng = np.random.default_rng(0)
    demos = {s: [rng.integers(0, 255, (res, res, 3), dtype=np.uint8) for _ in range(k)] for s, c in subjects}
    class_of = dict(subjects)
    priors = {c: rng.integers(0, 255, (experts.priors_per_class, res, res, 3), dtype=np.uint8)
              for c in set(class_of.values())}
    sample, batch = evaluation.sample, evaluation.batch_size

    def dreambooth(section: ExpertsSection):
        with tempfile.TemporaryDirectory() as tmp:
            shard, tune = generators.train_dreambooth(base, demos, class_of, priors, section, 0, f"{tmp}/experts")
            render = generators.dreambooth_renderer(shard, section.identifier, sample, batch)
            return float(np.mean(list(tune.values()))) + seconds_per_subject(rows, render)

    distilled = dataclasses.replace(apprentice, distilled_guidance=sample.guidance)  # one pass per sampler step
    results = {
        "suti": seconds_per_subject(rows, generators.apprentice_renderer(apprentice, demos, sample, batch)),
        "suti_distilled": seconds_per_subject(rows, generators.apprentice_renderer(distilled, demos, sample, batch)),
        "dream_suti": seconds_per_subject(rows, generators.dream_suti_renderer(
            apprentice, demos, class_of, sample, evaluation.dream_suti, 0, batch)),
        "dreambooth_lora": dreambooth(experts),
        "dreambooth_full": dreambooth(dataclasses.replace(experts, mode="full")),
    }
    images = len(rows) // len(subjects)
    print(f"{len(subjects)} subjects x {images} images, {k} demonstrations, sampler {sample.sampler}-{sample.steps} "
          f"(guidance {sample.guidance}); DreamBooth {experts.train.steps} steps; Dream-SuTI "
          f"{evaluation.dream_suti.steps} steps; on {jax.devices()[0]}")
    for name, seconds in results.items():
        print(f"{name:16s} {seconds:7.2f} s / subject   {seconds / results['suti']:6.2f}x SuTI   "
              f"{seconds / results['suti_distilled']:6.2f}x SuTI distilled")
    io.write_json({"subjects": len(subjects), "images_per_subject": images, "demos": k,
                   "seconds_per_subject": results,
                   "ratio_to_suti": {n: s / results["suti"] for n, s in results.items()},
                   "ratio_to_suti_distilled": {n: s / results["suti_distilled"] for n, s in results.items()},
                   "device": str(jax.devices()[0])}, args.out)


if __name__ == "__main__":
    main()
