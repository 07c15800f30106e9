"""The demonstration paths compared after in-context pretraining, paired on held-out stream identities.

Each variant continues the released apprentice (`pretrain.apprentice.init_from`, config/pretrain-apprentice-maps.yaml)
for the same steps and learning rate: `clip` (the released path, a control for the extra steps) and `both/shared`,
`both/light`, `unet/shared`... (`apprentice.demo_path` / `map_encoder`; a richer path's new blocks start at zero).
Then every variant and the released apprentice render the same held-out identities from the same demonstrations and
noise, and the identity judge re-identifies each generation among 15 look-alikes (`bench/in_context_identity.py`).

Run: `python bench/compare_demo_paths.py [--steps 3000] [--variants clip both/shared both/light]`. Trained models go
to bench/out/demo_paths/<variant>/ (resumable: a finished variant is kept, an interrupted one resumes); the reading
to bench/out/demo_paths/identity.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from suti.config import default_config
from suti.pretrain import release

OVERLAYS = ("config/pretrain.yaml", "config/pretrain-apprentice-maps.yaml")


def variant_params(variant: str, steps: int) -> dict:
    """pretrain_apprentice's params for a variant ("clip" or "<path>/<encoder>") of the overlay's recipe."""
    config = default_config(overlays=OVERLAYS)
    path, _, encoder = variant.partition("/")
    config["apprentice"].update(demo_path=path, map_encoder=encoder or "shared")
    config["pretrain"]["apprentice"]["train"]["steps"] = steps
    return release.pretrain_params(config, ["base", "scorer", "apprentice"], ["apprentice"])


def train(variant: str, steps: int, out: Path) -> Path:
    folder = out / variant.replace("/", "-")
    model = folder / "model"
    if model.exists():
        print(f"{variant}: kept {model}")
        return model
    folder.mkdir(parents=True, exist_ok=True)
    params = variant_params(variant, steps)
    cmd = ["suti", "pretrain-apprentice", "--params", json.dumps(params), "--base", "pretrained/base",
           "--clip", "pretrained/clip", "--probe", "pretrained/probe",
           "--init-from", params["pretrain"]["apprentice"]["init_from"], "--model", str(model),
           "--summary", str(folder / "summary.json"), "--samples", str(folder / "samples.png")]
    print(f"{variant}: training {steps} steps -> {model} (log {folder / 'train.log'})", flush=True)
    with open(folder / "train.log", "w") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)
    return model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=3000, help="continued in-context pretraining steps per variant")
    p.add_argument("--variants", nargs="+", default=["clip", "both/shared", "both/light"])
    p.add_argument("--identities", type=int, default=128, help="held-out stream identities read")
    p.add_argument("--out", default="bench/out/demo_paths")
    args = p.parse_args()
    out = Path(args.out)
    models = [str(train(v, args.steps, out)) for v in args.variants]
    subprocess.run([sys.executable, "bench/in_context_identity.py", "pretrained/apprentice", *models,
                    "--identities", str(args.identities), "--out", str(out / "identity.json")], check=True)


if __name__ == "__main__":
    main()
