"""Experts: LoRA at zero init is the base, prior-preservation wiring, K experts in one step = K single steps,
full fine-tuning's vmap path = its loop, resume."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from suti.experts import training as et
from suti.models import lora
from suti.models.t2i import ModelConfig, TextToImage
from suti.models.text import Tokenizer
from suti.models.unet import UNetConfig
from suti.diffusion.config import DiffusionConfig
from suti.training.config import TrainConfig

TINY = ModelConfig(unet=UNetConfig(resolution=8, channels=8, channel_mult=(1, 2), attention_resolutions=(4,),
                                   cross_attention_resolutions=(8, 4), heads=2, context_dim=16, patch_size=2),
                   text_dim=16, text_layers=1, text_heads=2, max_tokens=8)
DIFFUSION = DiffusionConfig(num_steps=50)
CFG = et.ExpertConfig(instance_batch=2, prior_batch=2, lora=lora.LoRAConfig(rank=2, alpha=2.0),
                      train=TrainConfig(steps=3, learning_rate=1e-2, warmup_steps=1, checkpoint_every=2, log_every=1))


@jax.jit
def _perturb(params):
    leaves, treedef = jax.tree.flatten(params)
    keys = jax.random.split(jax.random.key(5), len(leaves))
    return jax.tree.unflatten(treedef, [p + 0.1 * jax.random.normal(k, p.shape) for p, k in zip(leaves, keys)])


def make_setup():
    """(graphdef, params, data of 3 experts, null tokens) on a tiny model with perturbed weights."""
    tok = Tokenizer.build(["a photo of a mug", "a photo of a ball"], max_len=8)
    model = TextToImage(TINY, tok.size, nnx.Rngs(0))
    graphdef, params = nnx.split(model, nnx.Param)
    # a fresh UNet outputs zeros (zero-initialised output layers): perturb every weight so that outputs mean something
    params = _perturb(params)
    rng = np.random.default_rng(0)
    k = 3
    data = et.ExpertData(
        instance_images=[rng.integers(0, 255, (3 + i, 8, 8, 3), dtype=np.uint8) for i in range(k)],
        instance_tokens=tok.encode([f"a photo of sks {c}" for c in ("mug", "ball", "mug")]),
        prior_images=[rng.integers(0, 255, (5, 8, 8, 3), dtype=np.uint8) for _ in range(k)],
        prior_tokens=tok.encode([f"a photo of a {c}" for c in ("mug", "ball", "mug")]),
        seeds=np.array([11, 22, 33]))
    return graphdef, params, data, tok.encode([""])[0]


@pytest.fixture(scope="module")
def setup():
    return make_setup()


def _inputs(batch=4):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.normal(size=(batch, 8, 8, 3)), jnp.float32)
    t = jnp.arange(batch) * 7
    context = (jnp.asarray(rng.normal(size=(batch, 5, 16)), jnp.float32), jnp.ones((batch, 5), bool))
    return x, t, context


def test_lora_at_zero_init_equals_the_base(setup):
    graphdef, params, _, _ = setup
    base = nnx.merge(graphdef, params)
    x, t, context = _inputs()
    want = base(x, t, context)
    adapted = nnx.merge(graphdef, params)
    lora.add_lora(adapted.unet, 3, lora.LoRAConfig(rank=2), nnx.Rngs(1))
    with lora.routing(jnp.array([0, 1, 2, 1])):
        got = adapted(x, t, context)
    assert float(jnp.abs(want).max()) > 1e-2
    np.testing.assert_allclose(got, want, atol=1e-6)


def test_lora_routes_each_example_to_its_own_expert(setup):
    graphdef, params, _, _ = setup
    model = nnx.merge(graphdef, params)
    lora.add_lora(model.unet, 2, lora.LoRAConfig(rank=2), nnx.Rngs(1))
    g, factors, base = lora.split_lora(model)
    # expert 1 gets a non-zero delta, expert 0 stays at the base
    factors = jax.tree.map(lambda f: f.at[1].set(0.1), factors)
    model = nnx.merge(g, factors, base)
    x, t, context = _inputs(2)
    with lora.routing(jnp.array([0, 1])):
        mixed = model(x, t, context)
    plain = nnx.merge(graphdef, params)(x, t, context)
    np.testing.assert_allclose(mixed[0], plain[0], atol=1e-6)
    assert float(jnp.abs(mixed[1] - plain[1]).max()) > 1e-3


def test_lora_outside_routing_fails_clearly(setup):
    graphdef, params, _, _ = setup
    model = nnx.merge(graphdef, params)
    lora.add_lora(model.unet, 2, lora.LoRAConfig(rank=2), nnx.Rngs(1))
    with pytest.raises(RuntimeError, match="routing"):
        model(*_inputs(2))


def test_prior_preservation_loss_is_instance_plus_weighted_prior(setup):
    graphdef, params, data, null = setup
    one = data.subset([0])
    batch = et.expert_batch(one, CFG, step=0)
    assert batch["images"].shape == (1, 4, 8, 8, 3)
    assert (batch["tokens"][0, :2] == one.instance_tokens[0]).all()
    assert (batch["tokens"][0, 2:] == one.prior_tokens[0]).all()
    g, trainable, frozen = et.expert_model(graphdef, params, CFG, one.seeds)

    def loss(cfg):
        fn = et.make_expert_loss(g, cfg, DIFFUSION, jnp.asarray(null))
        return float(fn(trainable, frozen, batch, 0)[0])

    no_prior, w1, w3 = (loss(dataclasses.replace(CFG, prior_weight=w)) for w in (0.0, 1.0, 3.0))
    prior_part = w1 - no_prior
    assert prior_part > 0
    np.testing.assert_allclose(w3, no_prior + 3 * prior_part, rtol=1e-5)


def _leaves(tree):
    return [np.asarray(x) for x in jax.tree.leaves(tree)]


def test_k_expert_step_equals_k_single_expert_steps(setup):
    graphdef, params, data, null = setup
    together, _ = et.train_experts(graphdef, params, data, CFG, DIFFUSION, null)
    et._compiled_step.cache_clear()
    alone, _ = et.train_experts(graphdef, params, data, dataclasses.replace(CFG, strategy="loop"), DIFFUSION, null)
    info = et._compiled_step.cache_info()
    assert (info.misses, info.hits) == (1, 2)  # experts one after another share one compiled step
    for a, b in zip(_leaves(together), _leaves(alone)):
        assert a.shape[0] == 3
        np.testing.assert_allclose(a, b, atol=2e-5, rtol=1e-4)
    assert max(np.abs(x[:, ..., :]).max() for x in _leaves(together)) > 0  # the factors moved


def test_full_fine_tuning_vmap_gradients_equal_one_expert_gradients(setup):
    """The vmap path computes each expert's own loss and gradient. (Whole trained weights are not compared: Adam
    divides by each gradient's own scale, so float noise in ~0 gradients becomes visible after a step.)"""
    graphdef, params, data, null = setup
    full = dataclasses.replace(CFG, mode="full", strategy="vmap")
    two = data.subset([0, 1])
    loss_fn = et.make_full_loss(graphdef, full, DIFFUSION, jnp.asarray(null))
    grad = jax.jit(jax.grad(lambda p, b: loss_fn(p, (), b, 3)[0]))
    g_together = grad(et.stack([params, params]), et.expert_batch(two, full, 3))
    for k in range(2):
        g_alone = grad(et.stack([params]), et.expert_batch(two.subset([k]), full, 3))
        for a, b in zip(_leaves(g_together), _leaves(g_alone)):
            np.testing.assert_allclose(a[k], b[0], rtol=1e-4, atol=1e-6)


def test_full_fine_tuning_stores_a_delta(setup):
    graphdef, params, data, null = setup
    full = dataclasses.replace(CFG, mode="full", strategy="loop", train=dataclasses.replace(CFG.train, steps=2))
    deltas, _ = et.train_experts(graphdef, params, data.subset([0]), full, DIFFUSION, null)
    sizes = [float(np.abs(d).max()) for d in _leaves(deltas)]
    # the difference from the base: about one learning-rate step (1e-2) per weight, not the weights themselves
    assert 0 < max(sizes) <= 2 * CFG.train.learning_rate
    assert [d.shape[1:] for d in _leaves(deltas)] == [p.shape for p in _leaves(params)]


def test_expert_training_resumes_after_a_kill(setup, tmp_path):
    graphdef, params, data, null = setup
    cfg = dataclasses.replace(CFG, train=dataclasses.replace(CFG.train, steps=4))
    want, _ = et.train_experts(graphdef, params, data, cfg, DIFFUSION, null)
    et.train_experts(graphdef, params, data, cfg, DIFFUSION, null, ckpt_dir=tmp_path, stop_at=3)  # killed
    got, _ = et.train_experts(graphdef, params, data, cfg, DIFFUSION, null, ckpt_dir=tmp_path)
    for a, b in zip(_leaves(want), _leaves(got)):
        np.testing.assert_array_equal(a, b)


MULTI_DEVICE = textwrap.dedent("""
    import sys, dataclasses
    import jax, numpy as np
    sys.path.insert(0, {here!r})
    import test_experts as t
    from suti.experts import training as et
    graphdef, params, data, null = t.make_setup()
    data = et.ExpertData(data.instance_images + data.instance_images[:1], np.concatenate([data.instance_tokens,
                         data.instance_tokens[:1]]), data.prior_images + data.prior_images[:1],
                         np.concatenate([data.prior_tokens, data.prior_tokens[:1]]), np.array([11, 22, 33, 44]))
    cfg = dataclasses.replace(t.CFG, train=dataclasses.replace(t.CFG.train, steps=2))
    mesh = et.expert_mesh(4)
    sharded, _ = et.train_experts(graphdef, params, data, cfg, t.DIFFUSION, null, mesh=mesh)
    single, _ = et.train_experts(graphdef, params, data, cfg, t.DIFFUSION, null)
    leaf = jax.tree.leaves(sharded)[0]
    diff = max(float(np.abs(np.asarray(a) - np.asarray(b)).max())
               for a, b in zip(jax.tree.leaves(sharded), jax.tree.leaves(single)))
    shards = len(leaf.sharding.device_set)
    print("devices", len(jax.devices()), "mesh", mesh is not None, "shards", shards, "diff", diff)
""")


def test_multi_device_training_shards_experts_and_matches_one_device():
    flags = f"--xla_force_host_platform_device_count=4 {os.environ.get('XLA_FLAGS', '')}".strip()  # + the suite's
    env = dict(os.environ, XLA_FLAGS=flags, PYTHONWARNINGS="ignore")
    code = MULTI_DEVICE.format(here=str(Path(__file__).parent))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    words = r.stdout.split()
    report = dict(zip(words[::2], words[1::2]))
    assert report["devices"] == "4" and report["mesh"] == "True" and report["shards"] == "4"
    assert float(report["diff"]) < 2e-5


def test_class_priors_are_needed_only_with_prior_preservation(tmp_path):
    from suti import io
    from suti.data import tables
    from suti.data.images import encode_png
    from suti.errors import SutiError
    from suti.experts.priors import priors_for

    none = priors_for(None, ["mug", "ball"], prior_batch=0)  # the default recipe: no sample_priors job, no table
    assert set(none) == {"mug", "ball"} and all(len(v) == 0 for v in none.values())
    with pytest.raises(SutiError, match="needs class-prior images: pass --priors"):
        priors_for(None, ["mug"], prior_batch=1)
    image = np.zeros((8, 8, 3), np.uint8)
    path = tmp_path / "priors.parquet"
    io.write_parquet(tables.from_rows([{"class_noun": "mug", "prompt": "a photo of a mug", "seed": 0,
                                        "image": encode_png(image)}], tables.PRIORS), path)
    assert priors_for(path, ["mug"], prior_batch=1)["mug"].shape == (1, 8, 8, 3)
    with pytest.raises(SutiError, match=r"has no prior images for class\(es\) \['ball'\]"):
        priors_for(path, ["mug", "ball"], prior_batch=1)
