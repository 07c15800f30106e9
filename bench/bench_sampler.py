"""Rendering: quality against sampler steps, DDIM beside DPM-Solver++(2M), on the released base model.

Every method of the evaluation pays for rendering, and a render costs one guided model call per sampler step, so the
steps decide SuTI's seconds per subject (the speed target) and most of the evaluation jobs' time. For each (sampler,
steps) this renders `eval_base`'s prompts (held-out and seen (class, background) combinations, the same seeds) and
prints, side by side:
- seconds per image (compile excluded: each configuration renders once before it is timed);
- the probe's class / colour / background accuracy, as `eval_base` reads them (held-out and seen pooled, over two
  sampling seeds: 512 images);
- the change from 100 steps: mean absolute pixel distance (0-255) to the same sampler's image from the same noise in
  100 steps, on the first seed's images. Both samplers solve the probability-flow ODE (DDIM to first order, its noise
  re-derived from its clipped x0), so both converge as their steps grow; the second-order solver gets there sooner.

Run: `python bench/bench_sampler.py [--model pretrained/base] [--probe pretrained/probe]`; writes
bench/out/sampler.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from suti.config import default_config, from_dict
from suti.diffusion.config import SampleConfig
from suti.evaluation import base_quality as bq
from suti.models.pipeline import TextToImagePipeline
from suti.scoring.probe import load_probe
from suti.training.base_model import BaseConfig

CONFIGS = [("ddim", 25), ("ddim", 15), ("ddim", 10), ("ddim", 8), ("ddim", 6), ("dpmpp2m", 15), ("dpmpp2m", 10), ("dpmpp2m", 8),
           ("dpmpp2m", 6)]
REFERENCE_STEPS = 100
SEEDS = (0, 1)  # offsets to the config's seed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="pretrained/base", help="exported base model directory")
    p.add_argument("--probe", default="pretrained/probe", help="exported probe directory")
    p.add_argument("--out", default="bench/out/sampler.json")
    args = p.parse_args()
    config = default_config()
    cfg = from_dict(BaseConfig, config["base"])
    seed, n = int(config["seed"]), int(cfg.eval["n_per_prompt"])
    specs = bq.prompt_specs([tuple(c) for c in cfg.heldout_combos], int(cfg.eval["colours_per_combo"]), seed)
    pipe = TextToImagePipeline.load(args.model)
    probe_graphdef, probe_params, _ = load_probe(args.probe)
    guidance = cfg.sample.guidance

    def render(sampler: str, steps: int, seed: int) -> tuple[np.ndarray, float]:
        sample_cfg = SampleConfig(sampler=sampler, steps=steps, guidance=guidance)
        start = time.perf_counter()
        images = bq.sample_specs(pipe, specs, n, seed, sample_cfg)
        return images, (time.perf_counter() - start) / len(images)

    references, rows = {}, []
    for sampler, steps in tqdm(CONFIGS, desc="samplers"):
        if sampler not in references:
            references[sampler] = render(sampler, REFERENCE_STEPS, seed)[0].astype(np.float64)
        bq.sample_specs(pipe, specs[:1], 1, seed, SampleConfig(sampler, steps, guidance))  # compiles the batch shape
        runs = [render(sampler, steps, seed + offset) for offset in SEEDS]
        hits = [bq.correct(probe_graphdef, probe_params, images, specs, n) for images, _ in runs]
        rows.append({"sampler": sampler, "steps": steps, "seconds_per_image": min(s for _, s in runs),
                     **{a: float(np.mean([h[a] for h in hits])) for a in bq.ATTRIBUTES},
                     "change_from_100_steps": float(np.abs(runs[0][0] - references[sampler]).mean())})

    ddim = next(r for r in rows if (r["sampler"], r["steps"]) == ("ddim", 15))  # the former default everywhere
    print(f"{len(specs) * n} images of eval_base's prompts x {len(SEEDS)} seeds, guidance {guidance}; speed-up against "
          "DDIM 15")
    print(f"{'sampler':>8} {'steps':>5} {'ms/image':>9} {'speed-up':>8} {'class':>6} {'colour':>6} {'backgr.':>7} "
          f"{'vs 100':>7}")
    for r in rows:
        print(f"{r['sampler']:>8} {r['steps']:>5} {1e3 * r['seconds_per_image']:>9.1f} "
              f"{ddim['seconds_per_image'] / r['seconds_per_image']:>7.2f}x {r['class']:>6.3f} {r['colour']:>6.3f} "
              f"{r['background']:>7.3f} {r['change_from_100_steps']:>7.2f}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"images": len(specs) * n * len(SEEDS), "guidance": guidance,
                                          "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
