"""Could the pipeline keep the experts' samples that show *this* subject, by a re-identification model of its own?

A small CNN (the judge's architecture, its own weights) trained with a supervised contrastive loss on the mined
training clusters alone (the cluster id is the label: no ground truth, no judge), with the clusters of one class in
a batch as each other's negatives (the mined look-alikes the pipeline can see). It then re-identifies each
identity-prompt sample of the experts among the training clusters of its class (the centroid of each cluster's
images); a filter would keep the samples it places in their own cluster. The identity judge reads the kept and the
rejected samples: if the kept re-identify their subject among true look-alikes more often, such a filter raises the
identity the apprentice imitates.

Run: `python bench/reid_filter.py --run <finished run> [--tau 0.100] [--steps 600] [--write-filtered f.parquet]`;
prints the re-id model's accuracy on held-out clusters, the share of samples kept and the judge's identity of kept vs
rejected samples; writes bench/out/reid_filter.json (and, with --write-filtered, the tau's samples less the identity
prompts it rejects: an imitation set to train an apprentice on).
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import optax
import pyarrow.parquet as pq
from flax import nnx

from suti import io
from suti.config import default_config
from suti.data.images import decode_image
from suti.evaluation.identity import identity_scores, references_for
from suti.evaluation.protocol import bootstrap_ci
from suti.scoring.judge import IDENTITY_CATEGORIES, Judge, make_embed, make_train_step
from suti.scoring.probe import to_model_input


def load_clusters(path: Path) -> dict[str, dict]:
    """{cluster id: {"split", "class", "images" uint8 [M, H, W, 3]}}."""
    out: dict[str, dict] = {}
    for row in pq.read_table(path, columns=["cluster_id", "split", "class_noun", "image"]).to_pylist():
        c = out.setdefault(row["cluster_id"], {"split": row["split"], "class": row["class_noun"], "images": []})
        c["images"].append(decode_image(row["image"]))
    for c in out.values():
        c["images"] = np.stack(c["images"])
    return out


def batch(rng: np.random.Generator, by_class: dict[str, list], clusters: dict, classes: int, per_class: int,
          views: int) -> tuple[np.ndarray, np.ndarray]:
    """`classes` classes x `per_class` clusters of each x `views` images of each, labelled by cluster."""
    images, labels = [], []
    for cls in rng.choice(sorted(by_class), classes, replace=False):
        ids = by_class[cls]
        for k, cid in enumerate(rng.choice(ids, min(per_class, len(ids)), replace=False)):
            imgs = clusters[cid]["images"]
            for i in rng.choice(len(imgs), views, replace=len(imgs) < views):
                images.append(imgs[i])
                labels.append(len(labels) // views)
    return to_model_input(np.stack(images)), np.asarray(labels, np.int32)


def train(clusters: dict, steps: int, seed: int) -> tuple:
    by_class = defaultdict(list)
    for cid, c in clusters.items():
        if c["split"] == "train":
            by_class[c["class"]].append(cid)
    model = Judge(32, 64, nnx.Rngs(seed))
    graphdef, params = nnx.split(model)
    warmup = min(50, steps // 4)
    tx = optax.adamw(optax.warmup_cosine_decay_schedule(0.0, 2e-3, warmup, steps, 2e-4), weight_decay=0.05)
    opt_state, step_fn, rng = tx.init(params), make_train_step(graphdef, tx, 0.1), np.random.default_rng(seed)
    start = time.perf_counter()
    for step in range(steps):
        x, y = batch(rng, by_class, clusters, 4, 12, 2)
        params, opt_state, loss = step_fn(params, opt_state, x, y)
        if (step + 1) % 100 == 0:
            print(f"  step {step + 1} loss {float(loss):.3f} ({time.perf_counter() - start:.0f} s)")
    return graphdef, params


def embedder(graphdef, params):
    embed = make_embed(graphdef)
    return lambda u8: np.concatenate([np.asarray(embed(params, to_model_input(u8[i:i + 256])))
                                      for i in range(0, len(u8), 256)])


def heldout_reid(embed, clusters: dict) -> float:
    """Top-1 of each held-out cluster's first image among the held-out clusters of its class (their other images'
    centroids): how well the model tells mined subjects apart on clusters it never saw."""
    held = {cid: c for cid, c in clusters.items() if c["split"] != "train" and len(c["images"]) >= 3}
    by_class = defaultdict(list)
    for cid, c in held.items():
        by_class[c["class"]].append(cid)
    hits = []
    for ids in by_class.values():
        if len(ids) < 2:
            continue
        cents = np.stack([embed(held[cid]["images"][1:]).mean(0) for cid in ids])
        for i, cid in enumerate(ids):
            hits.append(int(np.argmax(cents @ embed(held[cid]["images"][:1])[0]) == i))
    return float(np.mean(hits))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=Path("."), help="the finished run's folder (holding results/)")
    p.add_argument("--overlays", nargs="*", default=[], help="the run's config overlays, relative to --run")
    p.add_argument("--judge", default="pretrained/judge")
    p.add_argument("--tau", default="none", help="whose kept samples to filter (results/filter/<tau>/)")
    p.add_argument("--steps", type=int, default=600)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="bench/out/reid_filter.json")
    p.add_argument("--write-filtered", help="write the tau's samples less the rejected identity prompts here")
    args = p.parse_args()
    params_cfg = default_config(args.run, tuple(args.run / path for path in args.overlays))
    res = args.run / "results"
    clusters = load_clusters(res / "mining/clusters.parquet")
    print(f"{sum(c['split'] == 'train' for c in clusters.values())} training clusters; training the re-id model")
    embed = embedder(*train(clusters, args.steps, args.seed))
    heldout = heldout_reid(embed, clusters)
    print(f"re-id top-1 on held-out clusters (among their class): {heldout:.3f}")

    table = pq.read_table(res / f"filter/{args.tau}/samples.parquet")
    samples = [r for r in table.to_pylist() if r["category"] in IDENTITY_CATEGORIES]
    train_ids = sorted(cid for cid, c in clusters.items() if c["split"] == "train")
    cents = np.stack([embed(clusters[cid]["images"]).mean(0) for cid in train_ids])
    index, cls = {cid: i for i, cid in enumerate(train_ids)}, np.array([clusters[c]["class"] for c in train_ids])
    images = np.stack([decode_image(r["image"]) for r in samples])
    sims = embed(images) @ cents.T                                                      # [N, clusters]
    own = np.array([index[r["subject"]] for r in samples])
    same_class = cls[None, :] == cls[own][:, None]
    kept = np.argmax(np.where(same_class, sims, -np.inf), axis=1) == own

    references, judge, judge_id = references_for(params_cfg, args.judge, res / "mining/clusters.parquet",
                                                 sorted(str(p) for p in (res / "corpus").glob("shard-*.parquet")),
                                                 sorted({r["subject"] for r in samples}))
    judged = identity_scores(judge, images, samples, references)
    subjects = np.array([r["subject"] for r in samples])
    out = {"run": str(res), "tau": args.tau, "steps": args.steps, "heldout_reid_top1": heldout, "judge": judge_id,
           "samples": len(samples), "kept": int(kept.sum())}
    print(f"{kept.sum()} of {len(samples)} identity-prompt samples kept ({kept.mean():.2f}); judge {judge_id}:")
    for name, mask in (("all", np.ones_like(kept)), ("kept", kept), ("rejected", ~kept)):
        acc = bootstrap_ci(judged["identity_accuracy"][mask], subjects[mask], 2000, 0)
        sim = float(np.nanmean(judged["id_similarity"][mask]))
        out[name] = {"images": int(mask.sum()), "identity_accuracy": acc, "id_similarity": sim}
        print(f"  {name:9s} {int(mask.sum()):5d} images: identity {acc[0]:.3f} [{acc[1]:.3f}, {acc[2]:.3f}], "
              f"ID similarity {sim:.3f}")
    io.write_json(out, args.out)
    if args.write_filtered:  # the tau's samples with the identity prompts the re-id model rejects taken out
        rejected = {(r["subject"], r["prompt_id"], r["seed"]) for r, k in zip(samples, kept) if not k}
        keep = [(r["subject"], r["prompt_id"], r["seed"]) not in rejected
                for r in table.select(["subject", "prompt_id", "seed"]).to_pylist()]
        io.write_parquet(table.filter(keep), args.write_filtered)
        print(f"wrote {sum(keep)} of {table.num_rows} samples to {args.write_filtered}")


if __name__ == "__main__":
    main()
