"""Inference with no optimisation: a trained apprentice renders a subject from a few demonstration images."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
from flax import nnx

from suti import io
from suti.apprentice.encoder import DemoEncoder
from suti.apprentice.model import Apprentice, guided_apprentice
from suti.data.images import decode_image, square_resize
from suti.diffusion.config import SampleConfig
from suti.diffusion.process import Prediction
from suti.diffusion.samplers import get_sampler
from suti.errors import SutiError
from suti.models.inference import DiffusionPipeline, Export, in_batches
from suti.models.layers import FrozenParam
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import TextToImage
from suti.training.checkpoints import digest, load_params


def make_apprentice_sample_fn(graphdef, schedule, prediction: Prediction, cfg: SampleConfig, shape: tuple):
    """Jitted sample(params, tokens, demos [B, K, E], demo_mask, null_tokens, keys [B]) -> images in [-1, 1].

    Guidance runs over text and demonstrations together: the null condition is the empty caption with no
    demonstration (the condition dropped in training)."""
    sampler = get_sampler(cfg.sampler)

    @jax.jit
    def sample(params, tokens, demos, demo_mask, null_tokens, keys):
        denoise = guided_apprentice(nnx.merge(graphdef, params), tokens, demos, demo_mask, null_tokens, cfg.guidance)
        return sampler(denoise, schedule, prediction, shape, keys, steps=cfg.steps)

    return sample


def load_sharing_frozen(directory: str | Path, like, meta: dict):
    """The params of an apprentice stored without its frozen text tower (the released one: `share_frozen`), the
    tower taken from the base model it points at, checked to be the one it was trained with."""
    base_dir = (Path(directory) / meta["frozen_from"]).resolve()
    frozen = nnx.filter_state(TextToImagePipeline.load(base_dir).params, FrozenParam)
    if digest(frozen) != meta["frozen_digest"]:
        raise SutiError(f"{directory}: the frozen text tower of {base_dir} is not the one this apprentice was trained "
                        f"with (digest {digest(frozen)}, trained with {meta['frozen_digest']}); re-release the "
                        "apprentice")
    trained = load_params(directory, nnx.filter_state(like, nnx.Not(FrozenParam)))
    return nnx.merge_state(trained, nnx.State({"base": frozen})) if len(frozen) else trained


@dataclasses.dataclass
class ApprenticePipeline(DiffusionPipeline):
    max_demos: int
    encoder: DemoEncoder
    demo_patch: int = 0  # `apprentice.demo_patch` it was trained with
    demo_path: str = "clip"  # `apprentice.demo_path` and `apprentice.map_encoder` it was trained with
    map_encoder: str = "shared"
    # a guidance-distilled apprentice (`apprentice.distill`): the scale it renders at, in one pass per sampler step
    distilled_guidance: float | None = None

    @classmethod
    def load(cls, directory: str | Path) -> ApprenticePipeline:
        export = Export.read(directory, "apprentice")
        meta = export.meta["apprentice"]
        max_demos, demo_dim, patch = int(meta["max_demos"]), int(meta["demo_dim"]), int(meta.get("demo_patch", 0))
        path, maps = meta.get("demo_path", "clip"), meta.get("map_encoder", "shared")
        graphdef, like = nnx.split(nnx.eval_shape(lambda: Apprentice(
            TextToImage(export.model_cfg, export.tokenizer.size, nnx.Rngs(0)), max_demos, demo_dim, nnx.Rngs(0),
            demo_patch=patch, demo_path=path, map_encoder=maps)), nnx.Param)
        params = load_sharing_frozen(directory, like, meta) if "frozen_from" in meta else load_params(directory, like)
        return cls(graphdef, params, export.tokenizer, export.model_cfg, export.diffusion_cfg,
                   max_demos, DemoEncoder.read(directory), patch, path, maps, meta.get("distilled_guidance"))

    def demo_arrays(self, demos: list[np.ndarray]):
        """(features [K_max, F], mask [K_max]) of one subject's demonstration images (any size: the encoder
        resizes them as its CLIP does)."""
        if len(demos) > self.max_demos:
            raise SutiError(f"{len(demos)} demonstrations given; this apprentice takes at most {self.max_demos}")
        embeddings = np.zeros((self.max_demos, self.encoder.dim), np.float32)
        if demos:
            embeddings[:len(demos)] = self.encoder(np.stack([self.square(im) for im in demos]))
        return embeddings, np.arange(self.max_demos) < len(demos)

    def square(self, image: np.ndarray) -> np.ndarray:
        """An image at the model's resolution (centre square, resized)."""
        r = self.resolution
        return image if image.shape[0] == r and image.shape[1] == r else square_resize(image, r)

    def sample(self, prompts: list[str], demos, demo_mask, seeds: np.ndarray, cfg: SampleConfig,
               batch_size: int = 32) -> np.ndarray:
        """uint8 [N, H, W, 3]: image i from prompts[i], its demonstrations (row i of demos [N, K, E] and demo_mask)
        and its own seed. Images do not depend on the batching. A guidance-distilled apprentice renders at the scale
        it was distilled at, whatever `cfg.guidance` says: its one pass per step is the guided output."""
        if self.distilled_guidance is not None:
            cfg = dataclasses.replace(cfg, guidance=1.0)
        # the slots no row fills add nothing (masked): render without them, for the unet path's attention over
        # every slot's cells costs by the slot
        filled = np.flatnonzero(np.asarray(demo_mask).any(0))
        k = int(filled[-1]) + 1 if len(filled) else 1
        demos, demo_mask = np.asarray(demos)[:, :k], np.asarray(demo_mask)[:, :k]
        sample, null = self.sampler(make_apprentice_sample_fn, cfg, batch_size), self.null_tokens(batch_size)
        keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
        return in_batches(lambda tokens, d, dm, k: sample(self.params, tokens, d, dm, null, k), batch_size,
                          self.tokenizer.encode(prompts), demos, demo_mask, keys)


def read_demo(path: str | Path) -> np.ndarray:
    """A demonstration image from disk; a missing or undecodable file fails with one line naming it."""
    path = Path(path)
    if not path.is_file():
        raise SutiError(f"demonstration image {path} does not exist")
    image = decode_image(path.read_bytes())
    if image is None:
        raise SutiError(f"demonstration image {path} is not a readable image")
    return image


def generate(pipe: ApprenticePipeline, demos: list[np.ndarray], class_noun: str, prompt: str, n: int, seed: int,
             cfg: SampleConfig) -> np.ndarray:
    """n images of the demonstrated subject in `prompt` ("a {} on the beach", {} = the class noun), no optimisation."""
    if not demos:
        raise SutiError("give at least one demonstration image")
    text = prompt.format(class_noun) if "{}" in prompt else prompt
    d, m = pipe.demo_arrays(demos)
    seeds = np.array([(seed * 1_000_003 + i) & 0x7FFFFFFF for i in range(n)])
    return pipe.sample([text] * n, np.repeat(d[None], n, 0), np.repeat(m[None], n, 0), seeds, cfg,
                       batch_size=min(n, 32))


def share_frozen(apprentice_dir: str | Path, base_dir: str | Path) -> None:
    """Store a released apprentice without the frozen text tower it shares with the released base model beside it
    (1.2 MB of float16 that git would otherwise hold twice): its params keep the trained weights only, and meta.json
    points at the base model with the tower's digest, which loading checks (`load_sharing_frozen`)."""
    folder = Path(apprentice_dir)
    params = ApprenticePipeline.load(folder).params
    mine = nnx.filter_state(params, FrozenParam)
    mine = mine["base"] if "base" in mine else mine  # (a learned text encoder freezes nothing)
    theirs = nnx.filter_state(TextToImagePipeline.load(base_dir).params, FrozenParam)
    # training never moves a frozen weight; only its EMA copy (what an export holds) may differ by float rounding
    if jax.tree.structure(mine) != jax.tree.structure(theirs) or not all(
            np.allclose(a, b, rtol=1e-3, atol=1e-6) for a, b in zip(jax.tree.leaves(mine), jax.tree.leaves(theirs))):
        raise SutiError(f"{folder}: its frozen text tower is not {base_dir}'s; release them from one pretraining run")
    frozen = digest(theirs)
    trained = jax.tree.map(lambda x: np.asarray(x, np.float16), nnx.filter_state(params, nnx.Not(FrozenParam)))
    shutil.rmtree(folder / "params")
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save((folder / "params").resolve(), trained)
    meta = json.loads((folder / "meta.json").read_text())
    meta["apprentice"].update(frozen_from=os.path.relpath(Path(base_dir).resolve(), folder.resolve()),
                              frozen_digest=frozen)
    io.write_json(meta, folder / "meta.json")
