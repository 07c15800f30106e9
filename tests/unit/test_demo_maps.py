"""The apprentice's unet demonstration path (`apprentice.demo_path` unet / both, Re-Imagen's): feature-map shapes and
masks at every reference side, zero demonstrations equal to the text-to-image model, new blocks that start as the
base model, a demonstration's pattern changing the output at zero noise, the maps computed once per sampling call
(not once per step), gradients reaching the encoder, export and reload, and the config checks of its sides."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from suti.apprentice.encoder import DemoEncoder
from suti.apprentice.model import Apprentice
from suti.apprentice.pipeline import ApprenticePipeline, generate
from suti.apprentice.training import graft, init_apprentice, make_apprentice_loss, with_attention
from suti.diffusion.config import DiffusionConfig, SampleConfig
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import get_schedule
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import ModelConfig
from suti.models.unet import UNet, UNetConfig
from suti.scoring.clip import ClipSpec
from suti.training.checkpoints import export_model
from suti.training.t2i import init_model
from tiny_models import perturbed, tiny_tokenizer

SIDE = 8
TINY = ModelConfig(unet=UNetConfig(resolution=SIDE, channels=8, channel_mult=(1, 2), attention_resolutions=(4,),
                                   cross_attention_resolutions=(4,), heads=2, context_dim=16, patch_size=2),
                   text_dim=16, text_layers=1, text_heads=2, max_tokens=8)
DIFFUSION = DiffusionConfig(num_steps=50)
E = 4  # a stand-in CLIP embedding width (the unet path reads the pixels after it)
PATHS = [("unet", "shared"), ("both", "light")]  # each path and each map encoder once


@pytest.fixture(scope="module")
def base():
    tok = tiny_tokenizer()
    graphdef, params = init_model(TINY, tok.size, seed=0)
    plain = TextToImagePipeline(graphdef, perturbed(params), tok, TINY, DIFFUSION)
    return plain, with_attention(plain, (), seed=0, reference_sides=(4, 2))


def _apprentice(base, path, encoder, perturb=True) -> Apprentice:
    graphdef, params = init_apprentice(base[1], 5, E + 3 * SIDE * SIDE, 0, demo_path=path, map_encoder=encoder)
    return nnx.merge(graphdef, perturbed(params) if perturb else params)


@nnx.jit
def _predict(model: Apprentice, x, t, tokens, demos, mask):
    return model(x, t, model.condition(tokens, demos, mask))


def _demos(b, k, seed=0, pixels=None):
    """Features [b, 5, E + R*R*3] (a random embedding, then pixels in [-1, 1]) and a mask of the first k slots."""
    rng = np.random.default_rng(seed)
    if pixels is None:
        pixels = rng.uniform(-1, 1, (b, 5, SIDE, SIDE, 3))
    features = np.concatenate([rng.normal(size=(b, 5, E)), pixels.reshape(b, 5, -1)], axis=-1)
    return jnp.asarray(features, jnp.float32), jnp.asarray(np.arange(5)[None].repeat(b, 0) < k)


def _inputs(base, b=2):
    tokens = jnp.asarray(base[0].tokenizer.encode(["a mug on the beach", "a red ball"][:b]))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(b, SIDE, SIDE, 3)), jnp.float32)
    return tokens, x, jnp.array([3, 40][:b])


@pytest.mark.parametrize("path,encoder,k", [("unet", "shared", 1), ("both", "light", 3), ("unet", "light", 5)])
def test_feature_maps_cover_every_reference_side_with_a_mask_per_demonstration(base, path, encoder, k):
    model = _apprentice(base, path, encoder)
    refs = model.reference_maps(*_demos(2, k))
    assert sorted(refs) == [2, 4]
    for side, width in ((4, 8), (2, 16)):  # the UNet's levels: 4 x 4 cells of 8 channels, 2 x 2 of 16
        features, mask = refs[side]
        assert features.shape == (2, 5 * side * side, width) and mask.shape == (2, 5 * side * side)
        assert int(mask[0].sum()) == k * side * side and bool(mask[0, :k * side * side].all())


def test_maps_finer_than_the_key_side_are_pooled_to_it_as_keys(base):
    """apprentice.map_key_side: the 4 x 4 level's maps become 2 x 2 cells of keys (each the mean of its 2 x 2
    block), the 2 x 2 level's stay; the queries keep their side, so the output keeps its shape."""
    pooled = with_attention(base[0], (), seed=0, reference_sides=(4, 2), key_side=2)
    graphdef, params = init_apprentice(pooled, 5, E + 3 * SIDE * SIDE, 0, demo_path="unet", map_encoder="light")
    model = nnx.merge(graphdef, perturbed(params))
    demos, mask = _demos(2, 3)
    refs = model.reference_maps(demos, mask)
    assert refs[4][0].shape == (2, 5 * 2 * 2, 8) and refs[2][0].shape == (2, 5 * 2 * 2, 16)
    assert int(refs[4][1][0].sum()) == 3 * 2 * 2
    full = model.reference_encoder(model._split(demos)[1].reshape(10, SIDE, SIDE, 3))[4]  # [10, 16, 8]
    block = full.reshape(10, 4, 4, 8)[0, :2, :2].mean(axis=(0, 1))
    np.testing.assert_allclose(refs[4][0][0, 0], block, atol=1e-5)
    tokens, x, t = _inputs(base)
    assert _predict(model, x, t, tokens, demos, mask).shape == x.shape


def test_an_apprentice_of_the_both_path_continues_a_clip_apprentice_drawing_as_it_does(base):
    """pretrain.apprentice.init_from: the clip apprentice's weights grafted into a both-path one (its reference
    blocks and encoder new, outputs at zero) give the clip apprentice's predictions, whatever the maps show."""
    g_clip, p_clip = init_apprentice(base[0], 5, E, 0)  # reads the CLIP embedding only
    p_clip = perturbed(p_clip)
    g_both, p_both = init_apprentice(base[1], 5, E + 3 * SIDE * SIDE, 1, demo_path="both", map_encoder="light")
    grafted, taken, new = graft(p_both, p_clip)
    assert taken == len(jax.tree.leaves(p_clip)) and new == len(jax.tree.leaves(p_both)) - taken
    tokens, x, t = _inputs(base)
    demos, mask = _demos(2, 3)
    np.testing.assert_allclose(_predict(nnx.merge(g_both, grafted), x, t, tokens, demos, mask),
                               _predict(nnx.merge(g_clip, p_clip), x, t, tokens, demos[..., :E], mask), atol=1e-5)


def test_the_clip_path_has_no_feature_maps(base):
    graphdef, params = init_apprentice(base[0], 5, E, 0)
    model = nnx.merge(graphdef, params)
    assert model.reference_maps(jnp.zeros((1, 5, E)), jnp.ones((1, 5), bool)) == {}


@pytest.mark.parametrize("path,encoder", PATHS)
def test_zero_demonstrations_equal_the_text_to_image_model(base, path, encoder):
    model = _apprentice(base, path, encoder)  # perturbed: as trained, no new weight is zero
    tokens, x, t = _inputs(base)
    with_empty_slots = _predict(model, x, t, tokens, *_demos(2, 0))
    text_only = model.base(x, t, model.base.encode_text(tokens))
    np.testing.assert_allclose(with_empty_slots, text_only, atol=1e-5)
    with_demos = _predict(model, x, t, tokens, *_demos(2, 3))
    assert float(jnp.abs(with_demos - text_only).max()) > 1e-4


@pytest.mark.parametrize("encoder", ["shared", "light"])
def test_an_untrained_unet_path_denoises_as_the_base_model(base, encoder):
    """The reference attention blocks' outputs start at zero: an apprentice fresh from the base model ignores its
    demonstrations' maps until trained, whatever they show."""
    model = _apprentice(base, "unet", encoder, perturb=False)
    tokens, x, t = _inputs(base)
    plain = nnx.merge(base[0].graphdef, base[0].params)
    np.testing.assert_allclose(_predict(model, x, t, tokens, *_demos(2, 3)), plain(x, t, plain.encode_text(tokens)),
                               atol=1e-5)


def _pattern(stripes: bool) -> np.ndarray:
    """[1, 5, R, R, 3]: the same blue square in every slot, with or without pale stripes on it."""
    image = np.full((SIDE, SIDE, 3), -1.0)
    image[2:6, 2:6] = (-0.6, -0.4, 0.6)
    if stripes:
        image[2:6:2, 2:6] = (0.8, 0.8, 0.9)
    return np.broadcast_to(image, (1, 5, SIDE, SIDE, 3)).copy()


@pytest.mark.parametrize("path,encoder", PATHS)
def test_a_demonstrations_pattern_changes_the_output_at_zero_noise(base, path, encoder):
    """What the CLIP path could not carry: two demonstration sets that differ only in the subject's pattern give
    different predictions at t = 0, where the output is the drawing's detail, not its layout."""
    model = _apprentice(base, path, encoder)
    tokens, x, _ = _inputs(base, 1)
    t = jnp.array([0])
    plain, striped = (_predict(model, x, t, tokens, *_demos(1, 3, pixels=_pattern(s))) for s in (False, True))
    assert float(jnp.abs(plain - striped).max()) > 1e-4
    # and only through the maps: the same demonstrations read by CLIP alone (no pixels) would not differ
    np.testing.assert_array_equal(_demos(1, 3, pixels=_pattern(False))[0][..., :E],
                                  _demos(1, 3, pixels=_pattern(True))[0][..., :E])


@pytest.mark.parametrize("encoder", ["shared", "light"])
def test_the_maps_are_computed_once_per_sampling_call_not_once_per_step(base, encoder, monkeypatch):
    """Clean demonstrations give the same maps at every step: rendering stays one pass of the generating UNet per
    step (the condition and the null condition encode them once each, whatever the step count)."""
    from suti.models import unet as unet_lib

    calls = []
    target = UNet.encode_references if encoder == "shared" else unet_lib.ReferenceEncoder.__call__
    name = "encode_references" if encoder == "shared" else "__call__"
    owner = UNet if encoder == "shared" else unet_lib.ReferenceEncoder

    def counted(*args, **kwargs):
        calls.append(1)
        return target(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    graphdef, params = init_apprentice(base[1], 5, E + 3 * SIDE * SIDE, 0, demo_path="unet", map_encoder=encoder)
    pipe = ApprenticePipeline(graphdef, params, base[1].tokenizer, base[1].model_cfg, DIFFUSION, 5,
                              encoder=None, demo_path="unet", map_encoder=encoder)
    demos, mask = _demos(1, 2)
    counts = []
    for steps in (2, 5):
        calls.clear()
        pipe.sample(["a red ball"], np.asarray(demos), np.asarray(mask), np.array([0]),
                    SampleConfig(steps=steps, guidance=2.0), batch_size=1)
        counts.append(len(calls))
    assert counts == [2, 2]


@pytest.mark.parametrize("encoder", ["shared", "light"])
def test_training_reaches_the_map_encoder(base, encoder):
    """End to end: after one step, the loss's gradient reaches the weights that encode the demonstrations (through
    the reference attention), not only the attention's own."""
    graphdef, params = init_apprentice(base[1], 5, E + 3 * SIDE * SIDE, 0, demo_path="unet", map_encoder=encoder)
    params = perturbed(params)  # past the first step: the reference outputs are no longer zero
    loss_fn = make_apprentice_loss(graphdef, get_schedule("cosine", DIFFUSION.num_steps), Prediction.V, 0.0,
                                   jnp.asarray(base[0].tokenizer.encode([""])[0]))
    rng = np.random.default_rng(0)
    demos, mask = _demos(4, 3)
    batch = {"images": jnp.asarray(rng.uniform(-1, 1, (4, SIDE, SIDE, 3)), jnp.float32),
             "tokens": jnp.asarray(base[0].tokenizer.encode(["a red ball"] * 4)), "demos": demos, "demo_mask": mask}
    grads = jax.jit(jax.grad(lambda p: loss_fn(p, batch, jax.random.key(0))[0]))(params)
    encoder_grads = grads["reference_encoder"] if encoder == "light" else grads["demo_caption"]
    assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(encoder_grads)) > 0


def test_a_map_reading_apprentice_exports_reloads_and_renders(base, repo, tmp_path):
    clip = DemoEncoder.load(ClipSpec(), str(repo / "pretrained/clip"), pixels=SIDE)
    _, params = init_apprentice(base[1], 5, clip.dim, 0, demo_path="both", map_encoder="light")
    export_model(tmp_path / "model", perturbed(params), {
        "model": base[1].model_cfg, "diffusion": DIFFUSION, "tokenizer": base[0].tokenizer.to_json(),
        "apprentice": {"max_demos": 5, "demo_dim": clip.dim, "demo_path": "both", "map_encoder": "light"}},
        write_extra=clip.save)
    pipe = ApprenticePipeline.load(tmp_path / "model")
    assert (pipe.demo_path, pipe.map_encoder, pipe.encoder.pixels) == ("both", "light", SIDE)
    assert pipe.model_cfg.unet.reference_resolutions == (4, 2)
    demos = list(np.random.default_rng(3).integers(0, 255, (2, SIDE, SIDE, 3), dtype=np.uint8))
    first = generate(pipe, demos, "mug", "a {} on the beach", 2, 0, SampleConfig(steps=3, guidance=2.0))
    assert first.shape == (2, SIDE, SIDE, 3)
    np.testing.assert_array_equal(first, generate(pipe, demos, "mug", "a {} on the beach", 2, 0,
                                                  SampleConfig(steps=3, guidance=2.0)))
    other = generate(pipe, demos[::-1][:1], "mug", "a {} on the beach", 2, 0, SampleConfig(steps=3, guidance=2.0))
    assert not np.array_equal(first, other)


def test_the_config_check_names_a_map_side_no_level_has(repo):
    from suti.config import ConfigError, default_config
    from suti.config_checks import check_attention_sides

    config = default_config(repo)
    check_attention_sides(config)  # the clip path reads no maps: any map_resolutions pass
    config["apprentice"].update(demo_path="unet", map_resolutions=[16, 8, 4])
    check_attention_sides(config)
    config["apprentice"]["map_resolutions"] = [32]
    with pytest.raises(ConfigError, match=r"apprentice.map_resolutions = \[32\]: no UNet level is \[32\]"):
        check_attention_sides(config)
    config["apprentice"].update(map_resolutions=[16, 8, 4], map_key_side=3)
    with pytest.raises(ConfigError, match=r"apprentice.map_key_side = 3 does not divide the map sides \[16, 8, 4\]"):
        check_attention_sides(config)


def test_a_rows_images_do_not_depend_on_the_empty_slots_of_its_batch(base):
    """Sampling renders without the slots no row fills (the attention over every slot's cells costs by the slot):
    a 1-demonstration row renders alike beside a 3-demonstration row and alone."""
    graphdef, params = init_apprentice(base[1], 5, E + 3 * SIDE * SIDE, 0, demo_path="both", map_encoder="light")
    pipe = ApprenticePipeline(graphdef, perturbed(params), base[1].tokenizer, base[1].model_cfg, DIFFUSION, 5,
                              encoder=None, demo_path="both", map_encoder="light")
    demos, mask = (np.array(x) for x in _demos(2, 3))
    mask[0, 1:] = False
    cfg = SampleConfig(steps=2, guidance=2.0)
    together = pipe.sample(["a red ball"] * 2, demos, mask, np.array([0, 1]), cfg, batch_size=2)
    alone = pipe.sample(["a red ball"], demos[:1], mask[:1], np.array([0]), cfg, batch_size=2)
    assert int(np.abs(together[0].astype(int) - alone[0]).max()) <= 1  # uint8 rounding of float noise at most
