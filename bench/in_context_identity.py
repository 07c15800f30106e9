"""In-context identity of exported apprentices on held-out stream identities, paired: does the apprentice draw *this*
identity from its demonstrations, not one of its class and colour? Each apprentice renders the same identities from
the same demonstrations and noise (`suti.evaluation.identity.in_context_identity`); the identity judge
(`pretrained/judge`, which no training reads) re-identifies each generation among 15 held-out look-alikes.

Prints each apprentice's identity top-1 and judge similarity with 95% bootstrap intervals over identities, and each
one's paired difference from the first. This is how the demonstration paths (`apprentice.demo_path`) were compared
after in-context pretraining (EXPERIMENTS.md); the released apprentice's own reading is in its provenance.
Run: `python bench/in_context_identity.py pretrained/apprentice results/pretrain/apprentice/model [--identities 128]
[--guidance 1 3 5]` (with --guidance, each apprentice at each scale; differences against the first reading)
"""

from __future__ import annotations

import argparse
import dataclasses

import numpy as np

from suti import io
from suti.apprentice.pipeline import ApprenticePipeline
from suti.config import default_config, from_dict
from suti.evaluation.identity import in_context_identity
from suti.evaluation.protocol import bootstrap_ci
from suti.pretrain.config import PretrainConfig
from suti.scoring.judge import load_judge

METRICS = ("identity_accuracy", "id_similarity")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("apprentices", nargs="+", help="exported apprentice folders; differences are against the first")
    p.add_argument("--identities", type=int, default=128, help="held-out stream identities")
    p.add_argument("--demos", type=int, default=3, help="demonstrations per identity")
    p.add_argument("--n", type=int, default=2, help="generations per identity")
    p.add_argument("--guidance", type=float, nargs="+",
                   help="guidance scales to read each apprentice at (default: the pretraining config's)")
    p.add_argument("--judge", default="pretrained/judge")
    p.add_argument("--out", default="bench/out/in_context_identity.json")
    args = p.parse_args()
    config = default_config(overlays=("config/pretrain.yaml",))
    pre = from_dict(PretrainConfig, config["pretrain"])
    resolution = int(config["world"]["resolution"])
    judge = load_judge(args.judge)
    combos = [tuple(c) for c in config["base"]["heldout_combos"]]
    ids = np.arange(args.identities)
    readings = {}
    for folder in args.apprentices:
        pipe = ApprenticePipeline.load(folder)
        for guidance in args.guidance or [pre.apprentice.sample.guidance]:
            name = folder if not args.guidance else f"{folder} @ guidance {guidance:g}"
            sample = dataclasses.replace(pre.apprentice.sample, guidance=guidance)
            readings[name] = in_context_identity(pipe, judge, pre.seed, resolution, args.identities, sample,
                                                 args.demos, args.n, heldout_combos=combos)
    chance = 1 / 16
    out = {"identities": args.identities, "demos": args.demos, "n": args.n, "chance": chance, "judge": judge.id,
           "apprentices": {}}
    first = next(iter(readings))
    print(f"{args.identities} held-out stream identities, {args.demos} demonstrations, {args.n} images each; "
          f"chance {chance:.4f}")
    for folder, reading in readings.items():
        row = {}
        for m in METRICS:
            row[m] = bootstrap_ci(reading[m], ids, 2000, 0)
            if folder != first:
                row[f"{m}_minus_first"] = bootstrap_ci(reading[m] - readings[first][m], ids, 2000, 0)
        out["apprentices"][folder] = row
        line = "  ".join(f"{m} {v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]" for m, v in row.items())
        print(f"{folder}: {line}")
    io.write_json(out, args.out)


if __name__ == "__main__":
    main()
