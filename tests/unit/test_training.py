"""Training: a 2-step smoke test, checkpoint round-trip, resume equality, the NaN guard, tokenizers and context, the
frozen CLIP text encoder (same features as its tower, never moved by training, exported and sampled)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from suti.data.training_set import to_unit_range
from suti.diffusion.config import DiffusionConfig, SampleConfig
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import get_schedule
from suti.models.clip_text import ClipTextTower, ClipTokenizer, bpe_tokenize
from suti.models.layers import FrozenParam
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import (
    ModelConfig,
    TextToImage,
    append_context,
    count_params,
    param_counts,
)
from suti.models.text import IDENTIFIERS, Tokenizer, load_tokenizer
from suti.models.unet import UNetConfig
from suti.training.checkpoints import Checkpointer, export_model, load_params
from suti.training.config import TrainConfig
from suti.training.loop import TrainingDiverged
from suti.training.t2i import init_model, make_t2i_loss, train_t2i

TINY = ModelConfig(unet=UNetConfig(resolution=8, channels=8, channel_mult=(1, 2), attention_resolutions=(4,),
                                   cross_attention_resolutions=(8, 4), heads=2, context_dim=16, patch_size=2),
                   text_dim=16, text_layers=1, text_heads=2, max_tokens=8)
DIFFUSION = DiffusionConfig(num_steps=50)
TRAIN = TrainConfig(batch_size=4, steps=6, learning_rate=1e-3, warmup_steps=2, checkpoint_every=3, log_every=2)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    tok = Tokenizer.build(["a red mug", "a blue ball on the beach"], max_len=8)
    images = rng.integers(0, 255, (10, 8, 8, 3), dtype=np.uint8)
    tokens = tok.encode(["a red mug", "a blue ball on the beach"] * 5)
    return tok, images, tokens, tok.encode([""])[0]


def _train(data, cfg=TRAIN, ckpt=None, stop_at=None):
    tok, images, tokens, null = data
    graphdef, params = init_model(TINY, tok.size, seed=0)
    return graphdef, *train_t2i(graphdef, params, images, tokens, null, DIFFUSION, cfg, seed=0, ckpt=ckpt,
                                stop_at=stop_at)


def _leaves(state):
    return [np.asarray(x) for x in jax.tree.leaves(state)]


def test_two_step_smoke(data):
    _, state, history = _train(data, dataclasses.replace(TRAIN, steps=2, log_every=1))
    assert int(state["step"]) == 2 and len(history) == 2
    assert all(np.isfinite(h["loss"]) for h in history)


def test_training_overfits_a_batch_it_can_memorise(data):
    """Two flat images (red, blue) under their captions, the same two every step: their diffusion loss, read at fixed
    noise levels and noise before and after, falls well below where it started, and below the loss with the two
    captions swapped (the model tells the images apart by their caption)."""
    tok, _, tokens, null = data
    images = np.zeros((2, 8, 8, 3), np.uint8)
    images[0, ..., 0], images[1, ..., 2] = 220, 220
    cfg = TrainConfig(batch_size=2, steps=150, learning_rate=3e-3, warmup_steps=5, checkpoint_every=1000, log_every=50)
    graphdef, params = init_model(TINY, tok.size, seed=0)
    loss_fn = make_t2i_loss(graphdef, get_schedule(DIFFUSION.schedule, DIFFUSION.num_steps),
                            Prediction(DIFFUSION.prediction), 0.0, jnp.asarray(null))
    batch = {"images": to_unit_range(np.repeat(images, 32, 0)), "tokens": jnp.asarray(np.repeat(tokens[:2], 32, 0))}
    before = float(loss_fn(params, batch, jax.random.key(1))[0])
    state, _ = train_t2i(graphdef, params, images, tokens[:2], null, DIFFUSION, cfg, seed=0)
    after = float(loss_fn(state["params"], batch, jax.random.key(1))[0])
    swapped = float(loss_fn(state["params"], dict(batch, tokens=batch["tokens"][::-1]), jax.random.key(1))[0])
    assert after < 0.75 * before and after < 0.9 * swapped, (before, after, swapped)  # and it reads the caption


def test_resume_after_a_kill_equals_an_uninterrupted_run(data, tmp_path):
    cfg = dataclasses.replace(TRAIN, log_every=1)
    _, full, full_log = _train(data, cfg)
    ckpt = Checkpointer(tmp_path / "ckpt")
    _train(data, cfg, ckpt=ckpt, stop_at=4)      # "killed" after step 4; last checkpoint at step 3
    assert ckpt.latest_step() == 3
    _, resumed, resumed_log = _train(data, cfg, ckpt=Checkpointer(tmp_path / "ckpt"))
    assert int(resumed["step"]) == 6
    for a, b in zip(_leaves(full), _leaves(resumed)):
        np.testing.assert_array_equal(a, b)
    # the resumed run's log covers the whole run: steps 1-3 from the checkpoint, 4-6 its own, the same losses
    assert [(h["step"], h["loss"]) for h in resumed_log] == [(h["step"], h["loss"]) for h in full_log]


def test_checkpoint_and_export_round_trip(data, tmp_path):
    graphdef, state, _ = _train(data, dataclasses.replace(TRAIN, steps=2))
    ckpt = Checkpointer(tmp_path / "c")
    ckpt.save(2, state)
    for a, b in zip(_leaves(state), _leaves(ckpt.restore(2, state))):
        np.testing.assert_array_equal(a, b)
    export_model(tmp_path / "model", state["ema"], {"model": TINY})
    for a, b in zip(_leaves(state["ema"]), _leaves(load_params(tmp_path / "model", state["ema"]))):
        np.testing.assert_array_equal(a, b)


def test_nan_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(data, tmp_path):
    tok, images, tokens, null = data
    ckpt = Checkpointer(tmp_path / "ckpt")
    _train(data, ckpt=ckpt, stop_at=3)
    bad = images.astype(np.float32) * np.nan  # poisoned data from step 3 on
    graphdef, params = init_model(TINY, tok.size, seed=0)
    with pytest.raises(TrainingDiverged, match=r"loss became nan by step [45]; last good checkpoint: step 3"):
        train_t2i(graphdef, params, bad, tokens, null, DIFFUSION, TRAIN, seed=0, ckpt=Checkpointer(tmp_path / "ckpt"))
    assert Checkpointer(tmp_path / "ckpt").latest_step() == 3


def test_tokenizer_reserves_identifiers_and_pads():
    tok = Tokenizer.build(["a red mug", "my mug"], max_len=5)
    ids = tok.encode(["a sks mug", "a very long caption indeed here"])
    assert ids.shape == (2, 5) and ids[0, 2] == tok.vocab.index("sks") and ids[0, 4] == 0
    assert tok.encode(["unheardof"])[0, 1] == tok.vocab.index("[unk]")
    assert Tokenizer.from_json(tok.to_json()) == tok
    with pytest.raises(ValueError, match="identifier"):
        Tokenizer.build([f"a {IDENTIFIERS[0]} mug"])


def test_memoised_bpe_tokenizer_gives_open_clips_ids():
    import open_clip

    from suti.pretrain import stream
    from suti.world import prompts

    captions = stream.batch(1, 0, 0, 64, 8)["captions"] + [prompts.scene_prompt("mug", "red", "beach")]
    odd = ["", "  two  spaces\tand a tab ", "Caf\u00e9 &amp; b\u00e4r's mug!!", "a&nbsp;b", "don't   STOP", "x " * 30,
           "a\x1fb", "a\x0bb", "a \x85 b", "voil\u00c3\xa0 mug", "\u00c2 mug", "<b> &amp;amp;amp; mug", "a\u3000b\r\nc"]
    for length in (8, 16, 77):
        want = open_clip.get_tokenizer("ViT-B-32", context_length=length)(captions + odd).numpy()
        np.testing.assert_array_equal(bpe_tokenize(captions + odd, length), want)


def test_context_accepts_appended_tokens():
    model = TextToImage(TINY, 20, nnx.Rngs(0))
    context = model.encode_text(jnp.ones((2, 8), jnp.int32))
    extra = jnp.ones((2, 3, 16))
    tokens, mask = append_context(context, extra)
    assert tokens.shape == (2, 11, 16) and mask.shape == (2, 11) and bool(mask[:, 8:].all())
    x, t = jnp.zeros((2, 8, 8, 3)), jnp.zeros(2, jnp.int32)
    assert model(x, t, (tokens, mask)).shape == (2, 8, 8, 3)
    # masked-out extra tokens change nothing
    hidden = append_context(context, extra * 5, jnp.zeros((2, 3), bool))
    np.testing.assert_allclose(model(x, t, hidden), model(x, t, context), atol=1e-5)


def _clip_model(texts):
    """A TINY model conditioned on a frozen CLIP text tower (random weights: the wiring, not the features, is tested)."""
    tower = ClipTextTower.random(width=16, layers=1, heads=2, context_length=8, seed=3)
    cfg = dataclasses.replace(TINY, text_encoder="clip", text_dim=16, text_layers=1, text_heads=2, max_tokens=8)
    tok = ClipTokenizer.build(texts, max_len=8)
    return tower, cfg, tok


def test_clip_tokenizer_keeps_the_bpe_rows_it_needs():
    texts = ["a red mug", "a blue ball on the beach"]
    tower, _, tok = _clip_model(texts)
    full = bpe_tokenize(texts + ["a sks mug"], 8)
    ids = tok.encode(texts + ["a sks mug", "a zebra"])
    # same sequence as open_clip's BPE: each kept BPE id maps to its own row, end-of-text stays the highest id
    table = np.asarray(tower.weights["token_embedding.weight"])
    rows = tok.embedding_rows(table)
    np.testing.assert_array_equal(rows[ids[:3]], table[full])
    assert (np.argmax(ids[:3], 1) == np.argmax(full, 1)).all() and ids.max() == tok.size - 1
    assert ids[3, 2] == 1 and ids[3, 3] == tok.size - 1   # "zebra": one unknown row, then end-of-text
    np.testing.assert_allclose(rows[1], table.mean(0), rtol=1e-6)
    assert load_tokenizer(tok.to_json()) == tok and tok.size < 30
    with pytest.raises(ValueError, match="identifier"):
        ClipTokenizer.build([f"a {IDENTIFIERS[0]} mug"])


def test_frozen_clip_text_encoder_matches_the_tower_and_never_moves(tmp_path):
    texts = ["a red mug", "a blue ball on the beach"]
    tower, cfg, tok = _clip_model(texts)
    graphdef, params = init_model(cfg, tok.size, seed=0, text_weights=tower.text_weights(tok))
    model = nnx.merge(graphdef, params)
    features, mask = model.encode_text(jnp.asarray(tok.encode(texts)))
    want, want_mask = tower(jnp.asarray(bpe_tokenize(texts, 8)))
    np.testing.assert_allclose(features, want, atol=1e-6)
    np.testing.assert_array_equal(mask, want_mask)

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (10, 8, 8, 3), dtype=np.uint8)
    train = dataclasses.replace(TRAIN, steps=3, weight_decay=0.5)  # weight decay alone would move unmasked weights
    frozen_before, unet_before = _leaves(nnx.state(model, FrozenParam)), _leaves(nnx.state(model.unet))
    state, _ = train_t2i(graphdef, jax.tree.map(jnp.copy, params), images, tok.encode(texts * 5),
                         tok.encode([""])[0], DIFFUSION, train, 0)   # a copy: training donates its input
    for tree in (state["params"], state["ema"]):
        trained = nnx.merge(graphdef, tree)
        for a, b in zip(frozen_before, _leaves(nnx.state(trained, FrozenParam))):
            np.testing.assert_array_equal(a, b)
        assert any(not np.array_equal(a, b) for a, b in zip(unet_before, _leaves(nnx.state(trained.unet))))
    n_trained, n_frozen = param_counts(state["params"])
    assert n_trained == count_params(model) and n_frozen == sum(a.size for a in frozen_before) > 0


def test_clip_text_model_exports_and_samples_through_the_pipeline(tmp_path):
    texts = ["a red mug", "a blue ball on the beach"]
    tower, cfg, tok = _clip_model(texts)
    graphdef, params = init_model(cfg, tok.size, seed=0, text_weights=tower.text_weights(tok))
    export_model(tmp_path / "m", params, {"model": cfg, "diffusion": DIFFUSION, "tokenizer": tok.to_json()})
    pipe = TextToImagePipeline.load(tmp_path / "m")
    assert pipe.tokenizer == tok
    for a, b in zip(_leaves(params), _leaves(pipe.params)):
        np.testing.assert_array_equal(a, b)
    sample = SampleConfig(sampler="ddim", steps=2, guidance=2.0)
    images = pipe.sample(["a sks mug", "a red ball"], seed=0, cfg=sample, batch_size=2)
    assert images.shape == (2, 8, 8, 3) and images.dtype == np.uint8
    with pytest.raises(ValueError, match="text tower"):
        init_model(cfg, tok.size, seed=0)
