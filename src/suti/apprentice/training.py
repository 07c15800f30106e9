"""Apprentice training, in two phases that share one batch format.

An example is K demonstrations (K uniform in 1..max_demos) drawn from a subject's mined cluster, as frozen CLIP
image embeddings (and, for the unet path or `apprentice.demo_patch`, their pixels), a target prompt and a target
image:
- in-context pretraining on the raw clusters (Re-Imagen's recipe; `cluster_data`): the target is another image of
  the same cluster with its own web caption, never one of its own demonstrations;
- imitation of the experts (`train_apprentice` stage's data): the target is a kept expert sample, the prompt names
  only the class ("a mug on the beach"), so what the subject looks like has to come from the demonstrations.
With probability `cond_drop` both the prompt and the demonstrations are dropped (the null condition classifier-free
guidance needs). A third, optional phase distils the trained apprentice's guidance on the imitation's batches
(`distill_apprentice`, `apprentice.distill`), so that it renders in one network pass per sampler step.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from suti import streams
from suti.apprentice.distill import make_distill_loss
from suti.apprentice.encoder import DemoEncoder
from suti.apprentice.model import Apprentice, needs_pixels
from suti.data.training_set import to_unit_range
from suti.diffusion.losses import diffusion_loss, keep_condition
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import Schedule
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import TextToImage
from suti.scoring.clip import ClipSpec
from suti.training.t2i import fit_denoiser


@dataclasses.dataclass
class ApprenticeData:
    """Targets and, per subject, the demonstration pool (its mined cluster) as embeddings."""

    images: np.ndarray          # uint8 [N, H, W, 3] targets
    tokens: np.ndarray          # int32 [N, L] target prompts
    subject: np.ndarray         # int [N] index into demos
    demos: list[np.ndarray]     # per subject float32 [M, F] demonstration features (DemoEncoder)
    class_nouns: list[str]      # per subject
    own_demo: np.ndarray | None = None  # int [N]: the target's own row in its pool (never its demonstration)
    demo_images: list[np.ndarray] | None = None  # per subject uint8 [M, H, W, 3] (previews only)


def cluster_data(images: np.ndarray, tokens: np.ndarray, cluster: np.ndarray, embeddings: np.ndarray,
                 class_nouns: list[str], min_size: int = 2) -> ApprenticeData:
    """In-context pretraining data from mined clusters: every image is a target, the rest of its cluster its pool.

    images uint8 [N, ...], tokens [N, L] (their captions), cluster int [N] (0..C-1), embeddings [N, E],
    class_nouns [C]. Clusters with fewer than `min_size` images (no demonstration besides the target) are left out."""
    keep = np.flatnonzero(np.bincount(cluster)[cluster] >= min_size)
    kept_clusters = np.unique(cluster[keep])
    renumber = {int(c): i for i, c in enumerate(kept_clusters)}
    rows = [np.flatnonzero(cluster == c) for c in kept_clusters]
    own = np.empty(len(images), np.int64)
    for members in rows:
        own[members] = np.arange(len(members))
    return ApprenticeData(images=images[keep], tokens=tokens[keep],
                          subject=np.array([renumber[int(c)] for c in cluster[keep]]),
                          demos=[embeddings[m] for m in rows], class_nouns=[class_nouns[c] for c in kept_clusters],
                          own_demo=own[keep], demo_images=[images[m] for m in rows])


def apprentice_batch(data: ApprenticeData, max_demos: int, batch_size: int, seed: int, step: int,
                     stream: int = streams.APPRENTICE_BATCHES) -> dict:
    """One step's batch, a function of the step alone (so a resumed run sees the same batches)."""
    rng = np.random.default_rng([seed, stream, step])
    idx = rng.choice(len(data.images), size=batch_size, replace=len(data.images) < batch_size)
    demos = np.zeros((batch_size, max_demos, data.demos[0].shape[1]), np.float32)
    mask = np.zeros((batch_size, max_demos), bool)
    for row, i in enumerate(idx):
        pool = data.demos[data.subject[i]]
        candidates = np.arange(len(pool))
        if data.own_demo is not None:
            candidates = candidates[candidates != data.own_demo[i]]
        k = min(int(rng.integers(1, max_demos + 1)), len(candidates))
        demos[row, :k], mask[row, :k] = pool[rng.choice(candidates, size=k, replace=False)], True
    return {"images": to_unit_range(data.images[idx]), "tokens": data.tokens[idx], "demos": demos,
            "demo_mask": mask}


def imitation_batch(data: ApprenticeData, replay: ApprenticeData | None, replay_share: float, max_demos: int,
                    batch_size: int, seed: int, step: int, stream: int) -> dict:
    """A step's batch of expert samples (`data`, stream `stream`), a `replay_share` of it from the raw clusters
    (`replay`, its own stream) instead: replay keeps the clusters phase's fidelity to the demonstrations while the
    apprentice learns the experts' new contexts (`apprentice.cluster_replay`)."""
    n_replay = round(batch_size * replay_share) if replay is not None else 0
    batch = apprentice_batch(data, max_demos, batch_size - n_replay, seed, step, stream)
    if n_replay == 0:
        return batch
    extra = apprentice_batch(replay, max_demos, n_replay, seed, step, streams.APPRENTICE_REPLAY_BATCHES)
    return {k: np.concatenate([batch[k], extra[k]]) for k in batch}


def make_apprentice_loss(graphdef, schedule: Schedule, prediction: Prediction, cond_drop: float, null_tokens,
                         min_snr_gamma: float = 0.0):
    """loss_fn(params, batch, rng) -> (loss, aux); dropped examples lose both prompt and demonstrations."""

    def loss_fn(params, batch, rng):
        model = nnx.merge(graphdef, params)
        drop_key, diffusion_key = jax.random.split(rng)
        keep = keep_condition(drop_key, batch["tokens"].shape[0], cond_drop)
        tokens = jnp.where(keep[:, None], batch["tokens"], null_tokens[None])
        cond = model.condition(tokens, batch["demos"], batch["demo_mask"] & keep[:, None])
        loss = diffusion_loss(lambda x, t: model(x, t, cond), schedule, prediction, batch["images"],
                              diffusion_key, None, min_snr_gamma)
        return loss, {}

    return loss_fn


def with_attention(base: TextToImagePipeline, sides: tuple[int, ...], seed: int,
                   reference_sides: tuple[int, ...] = (), key_side: int = 0) -> TextToImagePipeline:
    """The base model with cross-attention (to prompt and demonstrations) at further feature-map `sides` too, and
    attention to reference feature maps (the demonstrations') at `reference_sides`, keys pooled to `key_side`: the
    new blocks' outputs start at zero, so it denoises exactly as the base model until trained."""
    unet = base.model_cfg.unet
    extra = tuple(s for s in sides if s not in unet.cross_attention_resolutions)
    refs = tuple(s for s in reference_sides if s not in unet.reference_resolutions)
    if not (extra or refs):
        return base
    cfg = dataclasses.replace(base.model_cfg, unet=dataclasses.replace(
        unet, cross_attention_resolutions=tuple(unet.cross_attention_resolutions) + extra,
        reference_resolutions=tuple(unet.reference_resolutions) + refs,
        reference_key_side=key_side if reference_sides else unet.reference_key_side))
    model = TextToImage(cfg, base.tokenizer.size, nnx.Rngs(jax.random.fold_in(jax.random.key(seed),
                                                                              streams.APPRENTICE_INIT)))
    nnx.update(model, base.params)
    graphdef, params = nnx.split(model, nnx.Param)
    return TextToImagePipeline(graphdef, params, base.tokenizer, cfg, base.diffusion_cfg)


def init_apprentice(base: TextToImagePipeline, max_demos: int, demo_dim: int, seed: int, demo_patch: int = 0,
                    demo_path: str = "clip", map_encoder: str = "shared"):
    """(graphdef, params) of an apprentice whose text encoder and UNet are the base model's."""
    key = jax.random.fold_in(jax.random.key(seed), streams.APPRENTICE_INIT)
    model = Apprentice(nnx.merge(base.graphdef, base.params), max_demos, demo_dim, nnx.Rngs(key),
                       demo_patch=demo_patch, demo_path=demo_path, map_encoder=map_encoder)
    return nnx.split(model, nnx.Param)


def graft(params, donor) -> tuple:
    """(params, grafted, kept): `params` with every weight `donor` has at the same path and shape taken from it (cast
    to its dtype). An apprentice of a richer demonstration path so continues one of a poorer path: its shared weights
    are the donor's, its new blocks keep their init (outputs at zero), so it starts out drawing as the donor does."""
    theirs = {jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(donor)}
    counts = [0, 0]

    def take(path, mine):
        other = theirs.get(jax.tree_util.keystr(path))
        hit = other is not None and other.shape == mine.shape
        counts[0 if hit else 1] += 1
        return jnp.asarray(other, mine.dtype) if hit else mine

    out = jax.tree_util.tree_map_with_path(take, params)
    return out, counts[0], counts[1]


def fresh_apprentice(base_dir, cfg, clip: ClipSpec, clip_dir: str | None, seed: int):
    """(base, encoder, graphdef, params): a new apprentice on the exported base model `base_dir`, with the cross-
    attention sides, demonstration path and pixel patches `cfg` (ApprenticeConfig) asks for, reading demonstrations
    with the CLIP `clip` (model "" = the local CLIP folder `clip_dir`)."""
    maps = cfg.map_resolutions if cfg.demo_path != "clip" else ()
    base = with_attention(TextToImagePipeline.load(base_dir), cfg.cross_attention_resolutions, seed, maps,
                          cfg.map_key_side)
    encoder = DemoEncoder.load(clip, clip_dir,
                               pixels=base.resolution if needs_pixels(cfg.demo_path, cfg.demo_patch) else 0)
    graphdef, params = init_apprentice(base, cfg.max_demos, encoder.dim, seed, cfg.demo_patch, cfg.demo_path,
                                       cfg.map_encoder)
    return base, encoder, graphdef, params


def train_apprentice(graphdef, params, data: ApprenticeData, null_tokens, diffusion_cfg, train_cfg, max_demos: int,
                     seed: int, ckpt=None, stop_at=None, desc="train_apprentice", phase: str = "experts",
                     replay: ApprenticeData | None = None, replay_share: float = 0.0):
    """Train from `params` (see `init_apprentice`); returns (final train state, history).

    phase: "clusters" (in-context pretraining) or "experts" (imitation); each has its own batch and noise streams.
    replay, replay_share: the raw clusters and their share of each imitation batch (see `imitation_batch`)."""
    batches, noise = {"clusters": (streams.APPRENTICE_CLUSTER_BATCHES, streams.APPRENTICE_CLUSTER_TRAIN),
                      "experts": (streams.APPRENTICE_BATCHES, streams.APPRENTICE_TRAIN)}[phase]
    return fit_denoiser(make_apprentice_loss, graphdef, params,
                        lambda step: imitation_batch(data, replay, replay_share, max_demos, train_cfg.batch_size,
                                                     seed, step, batches),
                        null_tokens, diffusion_cfg, train_cfg, seed, noise, ckpt, stop_at, desc)


def distill_apprentice(graphdef, teacher, data: ApprenticeData, null_tokens, diffusion_cfg, cfg, max_demos: int,
                       seed: int, ckpt=None, stop_at=None, desc="distill_apprentice",
                       replay: ApprenticeData | None = None, replay_share: float = 0.0):
    """Guidance distillation (`apprentice.distill`) of a trained apprentice `teacher` (params) on `data` (and
    `replay`), the batches its imitation saw; the student starts as the teacher. Returns (final train state,
    history)."""

    def batch(step):
        return imitation_batch(data, replay, replay_share, max_demos, cfg.batch_size, seed, step,
                               streams.APPRENTICE_DISTILL_BATCHES) | {"teacher": teacher}

    student = jax.tree.map(jnp.copy, teacher)
    return fit_denoiser(make_distill_loss(cfg.guidance), graphdef, student, batch, null_tokens, diffusion_cfg, cfg,
                        seed, streams.APPRENTICE_DISTILL_TRAIN, ckpt, stop_at, desc)
