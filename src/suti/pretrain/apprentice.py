"""The pretrained in-context apprentice, SynthBench's Re-Imagen: the base model taught to draw a subject from its
demonstrations before any experiment starts (SuTI starts from a pretrained Re-Imagen; `apprentice.init`).

It learns on a fixed pool of the pretraining render stream's identities (ids no experiment contains, so held-out
evaluation subjects stay unseen), each rendered in several scenes as a corpus page shows its subject (companions,
shiny material) and captioned as the web would: demonstrations are images of one identity, the target another of
its images under its own caption. That is the recipe of the experiment's clusters phase (`cluster_data`), on many
more identities than an experiment mines. Held-out (class, background) pairs are never drawn, as for the base model.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from suti import streams, world
from suti.apprentice.pipeline import ApprenticePipeline, generate
from suti.apprentice.training import ApprenticeData, cluster_data
from suti.data.images import grid
from suti.pretrain import stream
from suti.scoring import probe as probe_lib
from suti.world import vocab

SUBJECT_HEADS = ("class", "colour", "pattern")  # what makes an identity itself (the scene-independent labels)


def render_pool(identities: int, images_per_identity: int, seed: int, resolution: int, heldout_combos=(),
                heldout: bool = False) -> dict:
    """{"images" uint8 [N*M, H, W, 3], "captions" [N*M], "scenes" [N*M], "identity" int [N*M], "subjects" [N]
    Subject, "class_nouns" [N]}: `identities` stream identities (their training range, or `heldout`: the range no model
    trains on), in `images_per_identity` scenes each."""
    rng = np.random.default_rng([seed, streams.PRETRAIN_APPRENTICE, int(heldout)])
    images, captions, scenes, identity, subjects = [], [], [], [], []
    for i in tqdm(range(identities), desc="render pool", mininterval=5):
        subject = stream.stream_subject(rng, seed, heldout)
        banned = {b for c, b in heldout_combos if c == subject.cls}
        allowed = [b for b in vocab.BACKGROUNDS if b not in banned]
        for _ in range(images_per_identity):
            scene = world.sample_scene(rng, background=str(rng.choice(allowed)))
            images.append(world.render(subject, scene, resolution))
            captions.append(world.describe(subject, scene, rng))
            scenes.append(scene)
            identity.append(i)
        subjects.append(subject)
    return {"images": np.stack(images), "captions": captions, "scenes": scenes, "identity": np.array(identity),
            "subjects": subjects, "class_nouns": [s.cls for s in subjects]}


def pool_data(pool: dict, tokenizer, encoder) -> ApprenticeData:
    """The pool as in-context examples: every image a target, the rest of its identity's images its demonstrations
    (encoded by the apprentice's demonstration encoder)."""
    return cluster_data(pool["images"], tokenizer.encode(pool["captions"]), pool["identity"],
                        encoder(pool["images"]), pool["class_nouns"])


def in_context_quality(pipe: ApprenticePipeline, probe, seed: int, resolution: int, sample_cfg, identities: int,
                       demos: int = 3, n: int = 2, heldout_combos=()) -> tuple[dict, list]:
    """How well it draws a subject it has never seen from `demos` demonstrations, under the class-only prompt "a
    photo of a <class>": the share of its generations whose class, colour and pattern the probe reads as the
    subject's (each, and all three), on `identities` held-out stream identities, `n` images each. Chance is what
    a model ignoring the demonstrations would read for colour and pattern. Returns (figures, per identity
    [demonstrations..., generations...] for a preview grid)."""
    graphdef, params = probe
    predict = probe_lib.make_predict(graphdef)
    pool = render_pool(identities, demos, seed, resolution, heldout_combos, heldout=True)
    hits = {h: [] for h in SUBJECT_HEADS}
    rows = []
    for i, subject in enumerate(tqdm(pool["subjects"], desc="in-context quality", mininterval=5)):
        shown = list(pool["images"][pool["identity"] == i])
        images = generate(pipe, shown, subject.cls, "a photo of a {}", n, seed + i, sample_cfg)
        truth = probe_lib.labels_of(subject, world.CANONICAL)
        read = probe_lib.predict_batched(predict, params, probe_lib.to_model_input(images), batch=n)
        for h in SUBJECT_HEADS:
            hits[h].append(read[h] == truth[h])
        rows.append(shown + list(images))
    per = {h: np.concatenate(v) for h, v in hits.items()}
    out = {h: float(per[h].mean()) for h in SUBJECT_HEADS}
    out["all3"] = float(np.mean(np.all([per[h] for h in SUBJECT_HEADS], axis=0)))
    chance = {h: 1.0 / len(probe_lib.HEADS[h]) for h in ("colour", "pattern")}
    return {"in_context": out, "in_context_chance": chance, "identities": identities, "demos": demos,
            "samples_per_identity": n, "prompt": "a photo of a {class}", "guidance": sample_cfg.guidance,
            "sampler_steps": sample_cfg.steps, "scorer": "suti-probe-cnn"}, rows


def preview(rows: list, n: int = 8) -> np.ndarray:
    """The first `n` held-out identities: demonstrations, then generations, one row each."""
    return grid([im for row in rows[:n] for im in row], cols=len(rows[0]), scale=2)
