"""The methods under evaluation: each turns the evaluation plan's rows into images, timing each subject.

A generator takes the rows of one subject and returns uint8 images [N, H, W, 3]; `generate` times it per subject
(wall clock, compilation excluded by a warm-up on the first subject), as the paper's speed comparison needs.
Methods here: `base` (the base model with the class noun only), `oracle` (real images: SynthBench's ground-truth
renders of each prompt; DreamBench's leave-one-out real photos, built by `dreambench_oracle_rows`), the apprentice
(`apprentice_renderer`, from each subject's first K images), Dream-SuTI (`dream_suti_renderer`: the same after a brief
fine-tuning on them) and DreamBooth (`train_dreambooth` + `dreambooth_renderer`).
"""

from __future__ import annotations

import collections
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from suti import world
from suti.apprentice.dream import DreamSutiTuner, dream_suti_key
from suti.data import tables
from suti.data.images import decode_image
from suti.data.training_set import to_unit_range
from suti.diffusion.config import SampleConfig
from suti.experts.config import subject_seed
from suti.experts.prompts import class_prompt, instance_prompt
from suti.experts.store import ExpertShard, save_shard
from suti.experts.training import ExpertData, train_experts
from suti.models.pipeline import TextToImagePipeline
from suti.world import prompts


def generate(rows: list[dict], render_subject, progress=None) -> tuple[np.ndarray, dict[str, float]]:
    """(images [N, ...] in row order, {subject: seconds}) from `render_subject(subject rows) -> images`."""
    by_subject = collections.defaultdict(list)
    for n, row in enumerate(rows):
        by_subject[row["subject"]].append(n)
    if not by_subject:
        return np.zeros((0, 1, 1, 3), np.uint8), {}
    first = next(iter(by_subject.values()))
    render_subject([rows[n] for n in first])  # warm-up: compilation is not part of any subject's time
    images, seconds = [None] * len(rows), {}
    for subject, idx in by_subject.items():
        start = time.perf_counter()
        out = render_subject([rows[n] for n in idx])
        seconds[subject] = time.perf_counter() - start
        for n, image in zip(idx, out):
            images[n] = image
        if progress is not None:
            progress.update(len(idx))
    return np.stack(images), seconds


def base_renderer(pipe: TextToImagePipeline, cfg: SampleConfig, batch_size: int):
    """The base model: the prompt with the class noun only, each image from its plan seed."""
    def render(rows):  # a subject's images in one batch where they fit (no padding to a larger batch)
        return pipe.sample_seeds([r["prompt"] for r in rows], np.array([r["seed"] for r in rows]), cfg,
                                 min(batch_size, len(rows)))

    return render


def apprentice_renderer(pipe, demonstrations: dict, cfg: SampleConfig, batch_size: int):
    """The apprentice: each subject's demonstration images and the class-noun prompt, no optimisation; the time per
    subject covers encoding the demonstrations and sampling."""
    def render(rows):
        d, m = pipe.demo_arrays(demonstrations[rows[0]["subject"]])
        n = len(rows)
        return pipe.sample([r["prompt"] for r in rows], np.repeat(d[None], n, 0), np.repeat(m[None], n, 0),
                           np.array([r["seed"] for r in rows]), cfg, min(batch_size, n))

    return render


def dream_suti_renderer(pipe, demonstrations: dict, class_of: dict, cfg: SampleConfig, tune_cfg, seed: int,
                        batch_size: int):
    """Dream-SuTI: the apprentice fine-tuned on each subject's demonstrations (`apprentice.dream`), then sampled as
    `apprentice_renderer`; a subject's time covers its fine-tuning and its sampling."""
    tuner = DreamSutiTuner(pipe, tune_cfg)

    def render(rows):
        subject = rows[0]["subject"]
        d, m = pipe.demo_arrays(demonstrations[subject])
        images = to_unit_range(np.stack([pipe.square(im) for im in demonstrations[subject]]))
        tuned = dataclasses.replace(pipe, params=tuner.tune(images, d, m, class_of[subject],
                                                            dream_suti_key(seed, subject)))
        n = len(rows)
        return tuned.sample([r["prompt"] for r in rows], np.repeat(d[None], n, 0), np.repeat(m[None], n, 0),
                            np.array([r["seed"] for r in rows]), cfg, min(batch_size, n))

    return render


def train_dreambooth(base, demonstrations: dict, class_of: dict, priors: dict, cfg, seed: int, directory):
    """The optimisation baseline: one DreamBooth expert per subject, fine-tuned on its demonstrations (with prior
    preservation) one subject after another, as a user runs DreamBooth, each subject timed on its own (compilation
    excluded by a one-step warm-up). Returns (ExpertShard, {subject: seconds of fine-tuning})."""
    subjects = sorted(demonstrations)
    tok = base.tokenizer
    meta = [{"subject": s, "class_noun": class_of[s], "identifier": cfg.identifier, "seed": subject_seed(seed, s),
             "images": len(demonstrations[s])} for s in subjects]
    data = ExpertData(
        instance_images=[np.stack(demonstrations[s]) for s in subjects],
        instance_tokens=tok.encode([instance_prompt(cfg.identifier, class_of[s]) for s in subjects]),
        prior_images=[priors[class_of[s]] for s in subjects],
        prior_tokens=tok.encode([class_prompt(class_of[s]) for s in subjects]),
        seeds=np.array([m["seed"] for m in meta]))
    one = dataclasses.replace(cfg.expert, strategy="loop")
    null = tok.encode([""])[0]

    def fine_tune(k, **kwargs):
        delta, _ = train_experts(base.graphdef, base.params, data.subset([k]), one, base.diffusion_cfg, null,
                                 desc=f"dreambooth {subjects[k]}", **kwargs)
        return jax.block_until_ready(delta)

    fine_tune(0, stop_at=1)  # compiles the step every subject then shares
    deltas, seconds = [], {}
    for k, subject in enumerate(subjects):
        start = time.perf_counter()
        deltas.append(fine_tune(k))
        seconds[subject] = time.perf_counter() - start
    save_shard(directory, jax.tree.map(lambda *xs: jnp.concatenate(xs), *deltas), cfg.expert, meta,
               {"base_model": "evaluation"})
    return ExpertShard.load(directory, base), seconds


def dreambooth_renderer(shard, identifier: str, cfg: SampleConfig, batch_size: int):
    """Each subject's own expert, prompted with the identifier ("a sks mug on the beach")."""
    index = {m["subject"]: k for k, m in enumerate(shard.subjects)}
    by_id = {p.prompt_id: p for p in prompts.PROMPTS}

    def render(rows):
        texts = [by_id[r["prompt_id"]].format(r["class_noun"], identifier) for r in rows]
        experts = np.full(len(rows), index[rows[0]["subject"]])
        return shard.sample(experts, texts, np.array([r["seed"] for r in rows]), cfg, min(batch_size, len(rows)))

    return render


def cluster_demonstrations(clusters, subjects, k: int) -> dict[str, list]:
    """{subject: its first k mined images (by image id)}: the demonstrations every method gets."""
    pools = collections.defaultdict(list)
    for r in sorted(clusters.select(["cluster_id", "image_id", "image"]).to_pylist(), key=lambda r: r["image_id"]):
        if r["cluster_id"] in subjects:
            pools[r["cluster_id"]].append(decode_image(r["image"]))
    return {s: pools[s][:k] for s in subjects}


def dreambench_demonstrations(photos: list[dict], subjects, k: int) -> dict[str, list]:
    """{subject: its first k photos (by image id)}."""
    pools = collections.defaultdict(list)
    for p in sorted(photos, key=lambda p: p["image_id"]):
        if p["subject"] in subjects:
            pools[p["subject"]].append(decode_image(p["image"]))
    return {s: pools[s][:k] for s in subjects}


def synthbench_oracle_renderer(world_seed: int, subject_ids: dict[str, int], resolution: int):
    """Ground truth: the subject itself rendered in a scene the prompt asks for (scene drawn from the plan seed)."""
    by_id = {p.prompt_id: p for p in prompts.PROMPTS}

    def render(rows):
        out = []
        for r in rows:
            subject = world.make_subject(world_seed, subject_ids[r["subject"]])
            scene = by_id[r["prompt_id"]].sample_scene(np.random.default_rng(r["seed"]))
            out.append(world.render(subject, scene, resolution))
        return np.stack(out)

    return render


def page_subject_ids(clusters, corpus_paths) -> dict[str, int] | None:
    """{cluster id: ground-truth subject id of its page} (None without ground truth). Evaluation only."""
    gt = tables.read_table(corpus_paths, ["page_id", "gt_subject_id", "gt_role"]).to_pylist()
    if any(r["gt_subject_id"] is None for r in gt):
        return None
    page_subject = {r["page_id"]: r["gt_subject_id"] for r in gt if r["gt_role"] == "subject"}
    return {r["cluster_id"]: int(page_subject[r["page_id"]])
            for r in clusters.select(["cluster_id", "page_id"]).to_pylist() if r["page_id"] in page_subject}


def dreambench_oracle_rows(photos: list[dict]) -> list[dict]:
    """Leave-one-out real photos: each photo of a subject is a 'generation' scored against the others, with no
    prompt (CLIP-T does not apply). `photos`: DREAMBENCH_IMAGES rows."""
    rows, index = [], collections.Counter()
    for p in photos:
        i = index[p["subject"]]
        index[p["subject"]] += 1
        rows.append(dict(bench="dreambench", subject=p["subject"], class_noun=p["class_noun"],
                         prompt_id=f"photo{i:02d}", category="live" if p["live"] else "object", prompt="", seed=0,
                         reference=i, image=p["image"]))
    return rows
