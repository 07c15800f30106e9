"""The identity judge: an image encoder that re-identifies a SynthBench subject among its look-alikes.

It plays DINO's part on DreamBench (identity, not class): renders of one identity in different scenes (background,
pose, light, companion) embed close together, look-alikes (same class and colour name, different exact appearance)
apart. It is trained by the pretraining workflow on stream identities only, and it only scores: no model, filter or
training signal in the pipeline reads it (tests/unit/test_judge.py checks the import graph).

Training is supervised contrastive (Khosla et al., 2020) on batches of look-alike groups: each group is one stream
identity and `identities - 1` of its look-alikes, each rendered `renders` times, half in reference (studio) scenes,
half in the scenes prompts ask for. The hard negatives of a group teach the fine cues (exact hue, saturation,
pattern, proportions) that a batch of random identities would not.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from suti import streams, world
from suti.errors import SutiError
from suti.identities import lookalikes, neutral_scene
from suti.models.layers import groups
from suti.pretrain import stream
from suti.scoring.probe import to_model_input
from suti.training.checkpoints import load_meta, load_params
from suti.training.optim import make_supervised_step
from suti.world import prompts

NAME = "suti-identity-judge"
# the categories whose prompts keep the subject as it is (property prompts change it on purpose)
IDENTITY_CATEGORIES = (prompts.RECONTEXTUALIZATION, prompts.ACCESSORIZATION)


@dataclasses.dataclass(frozen=True)
class JudgeConfig:
    width: int = 48               # channels of the first stage (then 2x, 4x)
    embed_dim: int = 128
    steps: int = 1500
    groups: int = 16              # look-alike groups per batch
    identities: int = 4           # identities per group (one stream identity and its look-alikes)
    renders: int = 2              # renders per identity (reference scene, prompt scene, ...)
    learning_rate: float = 2e-3
    weight_decay: float = 0.05
    temperature: float = 0.1
    checkpoint_every: int = 250
    curve_every: int = 250        # steps between learning-curve readings (0: only at the end)
    curve_subjects: int = 60      # held-out identities of a learning-curve reading
    eval_subjects: int = 200      # held-out identities of the final reading (the gate)
    eval_queries: int = 4         # prompt-scene renders of each held-out identity, re-identified
    lookalikes: int = 15          # look-alikes beside the true identity (chance 1 / (lookalikes + 1))
    references: int = 8           # reference renders per candidate (their mean embedding is the candidate's)


class Judge(nnx.Module):
    """Six 3x3 convs (width, 2 width, 4 width; two stride-2 stages), GroupNorm + GELU after each, mean+max pooled,
    linear to a unit vector. Full resolution in the first stage: stripes, dots and rings are a pixel or two wide at
    32 px."""

    def __init__(self, width: int, embed_dim: int, rngs: nnx.Rngs):
        w = width
        spec = [(3, w, 1), (w, w, 1), (w, 2 * w, 2), (2 * w, 2 * w, 1), (2 * w, 4 * w, 2), (4 * w, 4 * w, 1)]
        self.convs = nnx.List([nnx.Conv(a, b, (3, 3), strides=(s, s), rngs=rngs) for a, b, s in spec])
        self.norms = nnx.List([nnx.GroupNorm(b, groups(b), rngs=rngs) for _, b, _ in spec])
        self.head = nnx.Linear(8 * w, embed_dim, rngs=rngs)

    def __call__(self, x):  # x: [B, H, W, 3] in [-1, 1] -> [B, embed_dim], unit norm
        for conv, norm in zip(self.convs, self.norms):
            x = jax.nn.gelu(norm(conv(x)))
        z = self.head(jnp.concatenate([x.mean((1, 2)), x.max((1, 2))], axis=-1))
        return z / jnp.linalg.norm(z, axis=-1, keepdims=True).clip(1e-6)


def supcon_loss(emb: jax.Array, labels: jax.Array, temperature: float) -> jax.Array:
    """Supervised contrastive loss: every other view of the same identity is a positive. emb [N, D] unit, labels [N]."""
    n = emb.shape[0]
    self_mask = jnp.eye(n, dtype=bool)
    logits = jnp.where(self_mask, -1e9, emb @ emb.T / temperature)
    log_prob = logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)
    positive = (labels[:, None] == labels[None, :]) & ~self_mask
    return -(jnp.where(positive, log_prob, 0.0).sum(1) / positive.sum(1).clip(1)).mean()


def prompt_scene(rng: np.random.Generator) -> world.Scene:
    """A scene a recontextualisation or accessorisation prompt asks for, as the evaluation's prompts draw them."""
    pool = [p for p in prompts.PROMPTS if p.category in IDENTITY_CATEGORIES]
    return pool[int(rng.integers(len(pool)))].sample_scene(rng)


def training_batch(cfg: JudgeConfig, seed: int, step: int, resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """(images float [-1, 1] [G*I*R, H, W, 3], identity labels [G*I*R]) of one step: a function of (seed, step)."""
    rng = np.random.default_rng([seed, streams.JUDGE_TRAIN, step])
    images, labels = [], []
    for g in range(cfg.groups):
        anchor = stream.stream_subject(rng, seed)
        first = stream.FIRST_ID + int(rng.integers(stream.N_TRAIN_IDS - 100_000))
        group = [anchor] + lookalikes(seed, anchor, cfg.identities - 1, first, 100_000)
        for i, subject in enumerate(group):
            for r in range(cfg.renders):
                scene = neutral_scene(rng) if r % 2 == 0 else prompt_scene(rng)
                images.append(world.render(subject, scene, resolution))
                labels.append(g * cfg.identities + i)
    return to_model_input(np.stack(images)), np.asarray(labels, np.int32)


def make_train_step(graphdef, tx, temperature: float):
    def loss_fn(params, images, labels):
        return supcon_loss(nnx.merge(graphdef, params)(images), labels, temperature)

    return make_supervised_step(loss_fn, tx)


def make_embed(graphdef):
    """Jitted params, images [-1, 1] [B, H, W, 3] -> unit embeddings [B, D]."""
    @jax.jit
    def embed(params, images):
        return nnx.merge(graphdef, params)(images)

    return embed


class IdentityJudge:
    """A loaded judge: `embed_images(uint8 [N,H,W,3]) -> [N, D]` unit vectors, and the id that names its scores."""

    def __init__(self, graphdef, params, meta: dict, batch: int = 128):
        self.params, self.meta, self.batch = params, meta, batch
        self._embed = make_embed(graphdef)

    @property
    def id(self) -> str:
        return f"{NAME}[{self.meta.get('release', 'unreleased')}]"

    def embed_images(self, images_u8: np.ndarray) -> np.ndarray:
        """Unit embeddings [N, D] of uint8 images, in fixed-size batches (one compiled shape; the last is padded)."""
        out = [np.zeros((0, self.meta["judge"]["embed_dim"]), np.float32)]
        for i in range(0, len(images_u8), self.batch):
            chunk = to_model_input(images_u8[i:i + self.batch])
            padded = np.concatenate([chunk, np.zeros((self.batch - len(chunk),) + chunk.shape[1:], chunk.dtype)])
            out.append(np.asarray(self._embed(self.params, padded))[: len(chunk)])
        return np.concatenate(out)


def reidentify(judge: IdentityJudge, queries: np.ndarray, candidates: list[list[world.Subject]], seed: int,
               resolution: int, references: int) -> np.ndarray:
    """For each query image [N,H,W,3] uint8, the index of its nearest candidate (0 is the true subject) among its own
    candidates [N][C] subjects, each represented by the mean embedding of `references` renders in reference scenes."""
    centroids = candidate_centroids(judge, candidates, seed, resolution, references)           # [N, C, D]
    sims = np.einsum("nd,ncd->nc", judge.embed_images(queries), centroids)
    return sims.argmax(1)


def reference_renders(subject: world.Subject, seed: int, resolution: int, n: int) -> np.ndarray:
    """[n, H, W, 3] uint8: `subject` in `n` reference scenes drawn from its id, so the same subject gets the same
    references wherever it is judged."""
    rng = np.random.default_rng([seed, streams.JUDGE_REFERENCES, subject.subject_id])
    return np.stack([world.render(subject, neutral_scene(rng), resolution) for _ in range(n)])


def candidate_centroids(judge: IdentityJudge, candidates: list[list[world.Subject]], seed: int, resolution: int,
                        references: int) -> np.ndarray:
    """[N, C, D]: each candidate's unit mean embedding over its `references` reference renders."""
    unique = {s.subject_id: s for group in candidates for s in group}
    renders = np.concatenate([reference_renders(s, seed, resolution, references) for s in unique.values()])
    emb = judge.embed_images(renders).reshape(len(unique), references, -1).mean(1)
    emb /= np.linalg.norm(emb, axis=-1, keepdims=True).clip(1e-6)
    row = {sid: i for i, sid in enumerate(unique)}
    return np.stack([emb[[row[s.subject_id] for s in group]] for group in candidates])


def heldout_top1(judge: IdentityJudge, cfg: JudgeConfig, seed: int, resolution: int, n_subjects: int) -> float:
    """The gate's reading: top-1 re-identification of ground-truth renders of held-out stream identities in prompt
    scenes, each among itself and `cfg.lookalikes` held-out look-alikes (chance 1 / (lookalikes + 1))."""
    rng = np.random.default_rng([seed, streams.JUDGE_EVAL])
    queries, candidates = [], []
    for _ in range(n_subjects):
        subject = stream.stream_subject(rng, seed, heldout=True)
        first = stream.FIRST_ID + stream.N_TRAIN_IDS
        group = [subject] + lookalikes(seed, subject, cfg.lookalikes, first, stream.N_HELDOUT_IDS)
        for _ in range(cfg.eval_queries):
            queries.append(world.render(subject, prompt_scene(rng), resolution))
            candidates.append(group)
    picked = reidentify(judge, np.stack(queries), candidates, seed, resolution, cfg.references)
    return float(np.mean(picked == 0))


def train_judge(cfg: JudgeConfig, seed: int, resolution: int, progress=None, ckpt=None, on_reading=None):
    """Train a judge on stream identities, resuming from `ckpt` (a `Checkpointer`) where it has a save; every
    `cfg.curve_every` steps `on_reading(step, judge)` (the learning curve). Returns (graphdef, params, loss history)."""
    model = Judge(cfg.width, cfg.embed_dim, nnx.Rngs(jax.random.fold_in(jax.random.key(seed), streams.JUDGE_INIT)))
    graphdef, params = nnx.split(model, nnx.Param)
    lr = optax.warmup_cosine_decay_schedule(0.0, cfg.learning_rate, min(100, cfg.steps // 10 + 1), cfg.steps)
    tx = optax.adamw(lr, weight_decay=cfg.weight_decay)
    state, step_fn, history = {"params": params, "opt_state": tx.init(params)}, make_train_step(
        graphdef, tx, cfg.temperature), []
    start = ckpt.latest_step() if ckpt is not None and ckpt.latest_step() is not None else 0
    if start:
        state = ckpt.restore(start, state)
    if progress is not None:
        progress.update(start)
    for step in range(start, cfg.steps):
        images, labels = training_batch(cfg, seed, step, resolution)
        params, opt_state, loss = step_fn(state["params"], state["opt_state"], images, labels)
        state = {"params": params, "opt_state": opt_state}
        if (step + 1) % 50 == 0 or step + 1 == cfg.steps:
            history.append({"step": step + 1, "loss": float(loss)})
        if ckpt is not None and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            ckpt.save(step + 1, state)
        if on_reading is not None and cfg.curve_every and (step + 1) % cfg.curve_every == 0 and step + 1 < cfg.steps:
            on_reading(step + 1, IdentityJudge(graphdef, state["params"], {"judge": dataclasses.asdict(cfg)}))
        if progress is not None:
            progress.update(1)
    return graphdef, state["params"], history


def load_judge(directory) -> IdentityJudge:
    """An exported or released judge (a released one's id names the commit that trained it)."""
    try:
        meta = load_meta(directory)
    except FileNotFoundError as err:
        raise SutiError(f"no identity judge at {directory} (meta.json missing)") from err
    provenance = Path(directory) / "provenance.json"
    if provenance.exists():
        meta["release"] = str(json.loads(provenance.read_text()).get("git_commit", "unknown"))[:12]
    arch = meta["judge"]
    graphdef, like = nnx.split(nnx.eval_shape(lambda: Judge(arch["width"], arch["embed_dim"], nnx.Rngs(0))), nnx.Param)
    return IdentityJudge(graphdef, load_params(directory, like), meta)
