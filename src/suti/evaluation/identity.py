"""SynthBench identity metrics: is the generated subject *this* subject, not just one of its class and colour?

Per image, by the identity judge (`pretrained/judge`, `suti.scoring.judge`), which no model, filter or training
signal reads:
  identity_accuracy  1 when the image re-identifies as its subject among the subject itself and
                     `evaluation.identity.lookalikes` look-alikes (same class and colour name, everything else drawn
                     afresh: `suti.identities`), each represented by renders in fresh reference scenes, never the
                     demonstrations; recontextualisation and accessorisation prompts only (property prompts change
                     the subject on purpose). Chance 1 / (lookalikes + 1).
  id_similarity      the judge's mean cosine to the subject's fresh reference renders (SynthBench's DINO column)
The same fresh reference renders are the references of CLIP-I and DINO on SynthBench (`references`), so that no
fidelity metric can be raised by copying the demonstrations.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from suti import streams, world
from suti.config import from_dict
from suti.evaluation.plans import world_seed
from suti.errors import SutiError
from suti.evaluation.config import IdentityEval
from suti.identities import EVAL_LOOKALIKE_FIRST_ID, EVAL_LOOKALIKE_SPAN, lookalikes, neutral_scene
from suti.pretrain import release
from suti.scoring.judge import IDENTITY_CATEGORIES, IdentityJudge, load_judge, reference_renders


def load_checked_judge(directory: str | Path | None, judge_section: dict, resolution: int):
    """(IdentityJudge, its id) or (None, "missing: <reason>"): a judge released for another world or architecture
    is never used."""
    if not directory:
        return None, "missing: no identity judge given (pretrained/judge; snakemake results/pretrain/release-judge.json)"
    try:
        record = release.check(directory, "judge", release.judge_architecture(judge_section), "judge", resolution)
    except SutiError as err:
        return None, f"missing: {err}"
    judge = load_judge(directory)
    judge.meta["release"] = str(record.get("git_commit", "unknown"))[:12]
    return judge, judge.id


@dataclasses.dataclass(frozen=True)
class SubjectReferences:
    """A subject's fresh reference renders and its candidates' unit centroids in the judge's space."""

    images: np.ndarray        # [R, H, W, 3] uint8: the subject itself in fresh reference scenes
    embeddings: np.ndarray    # [R, D] the judge's embeddings of `images`
    centroids: np.ndarray     # [1 + lookalikes, D]: the subject's (row 0), then each look-alike's
    candidates: tuple = ()    # the subject, then its look-alikes (world.Subject), in the centroids' order

    def nearest_lookalike(self) -> world.Subject | None:
        """The look-alike the judge finds most like the subject (its hardest impostor)."""
        if len(self.candidates) < 2:
            return None
        return self.candidates[1 + int(np.argmax(self.centroids[1:] @ self.centroids[0]))]


def subject_references(judge: IdentityJudge | None, subjects: dict[str, world.Subject], seed: int, resolution: int,
                       cfg: IdentityEval) -> dict[str, SubjectReferences]:
    """{subject name: its references}; without a judge only the renders (embeddings and centroids empty)."""
    out = {}
    for name, subject in subjects.items():
        renders = reference_renders(subject, seed, resolution, cfg.references)
        if judge is None:
            out[name] = SubjectReferences(renders, np.zeros((0, 0)), np.zeros((0, 0)), (subject,))
            continue
        group = [subject] + lookalikes(seed, subject, cfg.lookalikes, EVAL_LOOKALIKE_FIRST_ID, EVAL_LOOKALIKE_SPAN)
        emb = judge.embed_images(np.concatenate([renders] + [
            reference_renders(s, seed, resolution, cfg.references) for s in group[1:]]))
        emb = emb.reshape(len(group), cfg.references, -1)
        centroids = emb.mean(1)
        centroids /= np.linalg.norm(centroids, axis=-1, keepdims=True).clip(1e-6)
        out[name] = SubjectReferences(renders, emb[0], centroids, tuple(group))
    return out


def identity_scores(judge: IdentityJudge, images_u8: np.ndarray, rows: list[dict],
                    references: dict[str, SubjectReferences], emb: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """{"identity_accuracy": [N] 0/1 (NaN for property prompts), "id_similarity": [N]} for generated images (`emb`:
    their judge embeddings, where already computed)."""
    emb = judge.embed_images(images_u8) if emb is None else emb                             # [N, D]
    accuracy, similarity = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    for n, row in enumerate(rows):
        ref = references.get(row["subject"])
        if ref is None:
            continue
        similarity[n] = float((ref.embeddings @ emb[n]).mean())
        if row["category"] in IDENTITY_CATEGORIES:
            accuracy[n] = float(np.argmax(ref.centroids @ emb[n]) == 0)
    return {"identity_accuracy": accuracy, "id_similarity": similarity}


def truth_renders(rows: list[dict], references: dict[str, SubjectReferences], resolution: int) -> np.ndarray:
    """Ground truth of each row: its subject rendered in a scene its prompt asks for, drawn apart from the oracle
    method's draw of the same row (so that the oracle's Fréchet distance to them is the sampling floor, not 0)."""
    by_id = {p.prompt_id: p for p in world.PROMPTS}
    out = []
    for row in rows:
        scene = by_id[row["prompt_id"]].sample_scene(np.random.default_rng([row["seed"], streams.FRECHET_TRUTH]))
        out.append(world.render(references[row["subject"]].candidates[0], scene, resolution))
    return np.stack(out)


def subject_and_lookalike(references: SubjectReferences, seed: int, resolution: int) -> list[np.ndarray]:
    """[the subject, its nearest look-alike] rendered in the subject's first reference scene (for the report's grid):
    what the identity metric must tell apart. Without a judge, the subject alone."""
    subject, other = references.candidates[0], references.nearest_lookalike()
    rng = np.random.default_rng([seed, streams.JUDGE_REFERENCES, subject.subject_id])
    scene = neutral_scene(rng)  # the scene of reference_renders' first image
    return [world.render(s, scene, resolution) for s in ([subject] + ([other] if other else []))]


def references_for(params: dict, judge_dir, clusters, corpus, subjects: list[str]):
    """(SubjectReferences per mined SynthBench subject, judge or None, judge id or "missing: <reason>") for a
    stage's params (world, evaluation, judge); (None, None, reason) without ground truth to render from."""
    import pyarrow.parquet as pq

    from suti.evaluation.generators import page_subject_ids

    ids = page_subject_ids(pq.read_table(clusters), corpus) if clusters and corpus else None
    if ids is None:
        return None, None, "missing: no ground truth (SynthBench identities) to re-identify against"
    seed = world_seed(params)
    return references_of(params, judge_dir, {s: world.make_subject(seed, ids[s]) for s in subjects})


def references_of(params: dict, judge_dir, subjects: dict[str, world.Subject]):
    """(SubjectReferences per subject, judge or None, judge id or "missing: <reason>") of known world subjects."""
    resolution = int(params["world"]["resolution"])
    judge, judge_id = load_checked_judge(judge_dir, params.get("judge", {}), resolution)
    cfg = from_dict(IdentityEval, params["evaluation"].get("identity", {}))
    return subject_references(judge, subjects, world_seed(params), resolution, cfg), judge, judge_id


def in_context_identity(pipe, judge: IdentityJudge, seed: int, resolution: int, identities: int, sample_cfg,
                        demos: int = 3, n: int = 2, lookalike_count: int = 15, references: int = 8,
                        heldout_combos=()) -> dict[str, np.ndarray]:
    """An in-context apprentice's identity on `identities` held-out stream identities (the range no model trains on;
    the pretraining reading's pool, `pretrain.apprentice.render_pool`): from `demos` demonstrations in stream scenes,
    `n` generations under "a photo of a <class>", each re-identified by the judge among the identity and
    `lookalike_count` held-out look-alikes (chance 1 / (lookalike_count + 1)). Returns per identity (mean over its
    generations): {"identity_accuracy" [I], "id_similarity" [I]} (the cosine to the unit mean of the identity's
    reference embeddings); the same seed gives every apprentice the same
    identities, demonstrations and noise, so two readings pair."""
    from suti.apprentice.pipeline import generate
    from suti.pretrain.apprentice import render_pool
    from suti.pretrain.stream import FIRST_ID, N_HELDOUT_IDS, N_TRAIN_IDS
    from suti.scoring.judge import candidate_centroids

    pool = render_pool(identities, demos, seed, resolution, heldout_combos, heldout=True)
    groups = [[s] + lookalikes(seed, s, lookalike_count, FIRST_ID + N_TRAIN_IDS, N_HELDOUT_IDS)
              for s in pool["subjects"]]
    centroids = candidate_centroids(judge, groups, seed, resolution, references)               # [I, C, D]
    accuracy, similarity = np.zeros(identities), np.zeros(identities)
    for i, subject in enumerate(pool["subjects"]):
        shown = list(pool["images"][pool["identity"] == i])
        emb = judge.embed_images(generate(pipe, shown, subject.cls, "a photo of a {}", n, seed + i, sample_cfg))
        sims = emb @ centroids[i].T                                                             # [n, C]
        accuracy[i] = float(np.mean(sims.argmax(1) == 0))
        similarity[i] = float(sims[:, 0].mean())
    return {"identity_accuracy": accuracy, "id_similarity": similarity}
