"""SynthBench rendering speed on one core: images/s at each resolution, and the PNG-encoding share.

Target: >= 1,000 images/s at 32 px on one core, so rendering is never the bottleneck.
Run: `python bench/bench_render.py [--out bench/out/render.json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from suti import world
from suti.data.images import encode_png


def timed(fn, n: int) -> float:
    """Calls per second of fn(i) over n calls (after one warm-up call)."""
    fn(0)
    start = time.perf_counter()
    for i in range(n):
        fn(i)
    return n / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=2000, help="images per measurement at 32 px (fewer at larger sizes)")
    p.add_argument("--out", default="bench/out/render.json")
    args = p.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    rng = np.random.default_rng(0)
    subjects = world.make_subjects(0, range(256))
    scenes = [world.sample_scene(rng) for _ in range(256)]
    results = {}
    for res in (32, 64, 128, 256):
        n = max(50, args.n * 32 // res // (res // 32))
        render = timed(lambda i: world.render(subjects[i % 256], scenes[i % 256], res), n)
        with_png = timed(lambda i: encode_png(world.render(subjects[i % 256], scenes[i % 256], res)), n)
        results[f"{res}px"] = {"render_images_per_s": round(render, 1), "render_and_png_images_per_s": round(with_png, 1)}
        print(f"{res:>4} px: render {render:8.0f} img/s   render+PNG {with_png:8.0f} img/s   (n={n})")
    target = results["32px"]["render_images_per_s"] / 1000
    print(f"32 px render speed / 1,000 img/s target = {target:.2f}x")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(dict(results, target_ratio_32px=round(target, 2), cores=1), f, indent=2)


if __name__ == "__main__":
    main()
