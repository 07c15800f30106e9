"""The apprentice: demonstration-token shapes for K = 1..5, zero demonstrations = text-only conditioning, the global
demonstration term starting at zero, cluster batches that never show a target as its own demonstration, the
raw-cluster share of an imitation batch, deterministic generation, a 2-step training smoke test with export and
reload (demonstration encoder included), and the generate CLI's errors. The demonstration encoder is the shipped
small CLIP (pretrained/clip)."""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from suti import cli
from suti.apprentice.config import ApprenticeConfig
from suti.apprentice.encoder import DemoEncoder
from suti.apprentice.pipeline import ApprenticePipeline, generate
from suti.apprentice.training import (
    ApprenticeData,
    apprentice_batch,
    cluster_data,
    imitation_batch,
    init_apprentice,
    train_apprentice,
    with_attention,
)
from suti.data.images import encode_png
from suti.diffusion.config import DiffusionConfig, SampleConfig
from suti.errors import SutiError
from suti.models.pipeline import TextToImagePipeline
from suti.models.t2i import ModelConfig
from suti.models.unet import UNetConfig
from suti.scoring.clip import ClipSpec
from suti.stages import train_apprentice as stage
from suti.training.checkpoints import export_model
from suti.training.config import TrainConfig
from suti.training.t2i import init_model
from tiny_models import perturbed, tiny_tokenizer

TINY = ModelConfig(unet=UNetConfig(resolution=8, channels=8, channel_mult=(1, 2), attention_resolutions=(4,),
                                   cross_attention_resolutions=(8, 4), heads=2, context_dim=16, patch_size=2),
                   text_dim=16, text_layers=1, text_heads=2, max_tokens=8)
DIFFUSION = DiffusionConfig(num_steps=50)
SAMPLE = SampleConfig(steps=3, guidance=2.0)
E = 128  # the shipped CLIP's embedding width


@pytest.fixture(scope="module")
def base():
    tok = tiny_tokenizer()
    graphdef, params = init_model(TINY, tok.size, seed=0)
    return TextToImagePipeline(graphdef, perturbed(params), tok, TINY, DIFFUSION)  # perturbed: outputs mean something


@pytest.fixture(scope="module")
def encoder(repo):
    return DemoEncoder.load(ClipSpec(), str(repo / "pretrained/clip"))


def _demos(b, k, seed=0):
    """Random unit embeddings [b, 5, E] and a mask of the first k slots."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(b, 5, E))
    return (jnp.asarray(x / np.linalg.norm(x, axis=-1, keepdims=True), jnp.float32),
            jnp.asarray(np.arange(5)[None].repeat(b, 0) < k))


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_demonstration_token_shapes(base, k):
    graphdef, params = init_apprentice(base, max_demos=5, demo_dim=E, seed=0)
    model = nnx.merge(graphdef, params)
    demos, mask = _demos(2, k)
    tokens, token_mask = model.demo_tokens(demos, mask)
    assert tokens.shape == (2, 5 * model.tokens_per_demo, 16) and token_mask.shape == (2, 5 * model.tokens_per_demo)
    assert int(token_mask[0].sum()) == k * model.tokens_per_demo


def test_zero_demonstrations_equal_text_only_conditioning(base):
    graphdef, params = init_apprentice(base, max_demos=5, demo_dim=E, seed=0)
    model = nnx.merge(graphdef, perturbed(params))  # as trained: no demonstration weight is zero
    tokens = jnp.asarray(base.tokenizer.encode(["a mug on the beach", "a red ball"]))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 8, 8, 3)), jnp.float32)
    t = jnp.array([3, 40])
    with_empty_slots = model(x, t, model.condition(tokens, *_demos(2, 0)))
    text_only = model.base(x, t, model.base.encode_text(tokens))  # its own text-to-image model
    np.testing.assert_allclose(with_empty_slots, text_only, atol=1e-5)
    with_demos = model(x, t, model.condition(tokens, *_demos(2, 3)))
    assert float(jnp.abs(with_demos - text_only).max()) > 1e-4  # demonstrations do change the prediction


def test_the_global_demonstration_term_starts_at_zero(base):
    """Before training, demonstrations reach the UNet through cross-attention only; the FiLM term must be learned."""
    graphdef, params = init_apprentice(base, max_demos=5, demo_dim=E, seed=0)
    model = nnx.merge(graphdef, params)
    np.testing.assert_array_equal(model.demo_condition(*_demos(2, 3)), np.zeros((2, model.base.unet.embed_dim)))


def _data(n_subjects=2):
    rng = np.random.default_rng(0)
    tok = tiny_tokenizer()
    return ApprenticeData(
        images=rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8), tokens=tok.encode(["a mug on the beach"] * 6),
        subject=np.array([0, 0, 0, 1, 1, 1]) % n_subjects,
        demos=[rng.normal(size=(3 + i, E)).astype(np.float32) for i in range(n_subjects)],
        class_nouns=["mug"] * n_subjects,
        demo_images=[rng.integers(0, 255, (3 + i, 8, 8, 3), dtype=np.uint8) for i in range(n_subjects)])


def test_batches_hold_one_to_k_demonstrations_of_the_targets_subject():
    data = _data()
    batch = apprentice_batch(data, max_demos=5, batch_size=16, seed=0, step=3)
    counts = batch["demo_mask"].sum(1)
    assert counts.min() >= 1 and counts.max() <= 4  # the largest pool has 4 images
    assert batch["demos"].shape == (16, 5, E) and np.all(batch["demos"][~batch["demo_mask"]] == 0.0)
    np.testing.assert_array_equal(batch["tokens"], apprentice_batch(data, 5, 16, 0, 3)["tokens"])  # step-determined


def test_cluster_batches_never_show_a_target_as_its_own_demonstration():
    rng = np.random.default_rng(0)
    cluster = np.array([0, 0, 0, 1, 1, 2, 0, 1])   # cluster 2 has one image: no demonstration for it, left out
    embeddings = np.eye(8, E, dtype=np.float32)     # row i's embedding is one-hot at i: demonstrations are traceable
    data = cluster_data(rng.integers(0, 255, (8, 8, 8, 3), dtype=np.uint8), np.arange(8)[:, None].repeat(3, 1),
                        cluster, embeddings, ["mug", "ball", "vase"])
    assert len(data.images) == 7 and data.class_nouns == ["mug", "ball"]
    for step in range(20):
        batch = apprentice_batch(data, max_demos=5, batch_size=8, seed=0, step=step)
        for tokens, demos, mask in zip(batch["tokens"], batch["demos"], batch["demo_mask"]):
            target = int(tokens[0])                 # tokens carry the image's row
            shown = np.argmax(demos[mask], axis=1)
            assert target not in shown and all(cluster[i] == cluster[target] for i in shown)
            assert mask.sum() == min(mask.sum(), (cluster == cluster[target]).sum() - 1) >= 1


def test_replay_fills_its_share_of_an_imitation_batch_from_the_clusters():
    experts = _data()
    rng = np.random.default_rng(1)
    clusters = cluster_data(rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8), np.full((6, 8), 7),
                            np.array([0, 0, 0, 1, 1, 1]), 100 + rng.normal(size=(6, E)).astype(np.float32),
                            ["ball", "vase"])
    plain = imitation_batch(experts, None, 0.25, 5, 16, seed=0, step=2, stream=1)
    np.testing.assert_array_equal(plain["tokens"], apprentice_batch(experts, 5, 16, 0, 2, stream=1)["tokens"])
    mixed = imitation_batch(experts, clusters, 0.25, 5, 16, seed=0, step=2, stream=1)
    assert {k: v.shape for k, v in mixed.items()} == {k: v.shape for k, v in plain.items()}
    from_clusters = np.all(mixed["tokens"] == 7, axis=1)   # the cluster captions' tokens are all 7
    np.testing.assert_array_equal(from_clusters, np.arange(16) >= 12)   # 4 of 16, after the expert samples
    shown = mixed["demos"][mixed["demo_mask"].astype(bool)]
    # and the cluster rows show their own cluster's demonstrations (embeddings near 100)
    assert np.array_equal(np.all(shown > 50, axis=1), np.repeat(from_clusters, mixed["demo_mask"].sum(1)))


@pytest.fixture(scope="module")
def trained(base, encoder, tmp_path_factory):
    graphdef, params = init_apprentice(base, max_demos=5, demo_dim=E, seed=0)
    params = jax.tree.map(jnp.copy, params)  # training donates its state: the shared base's weights must survive it
    cfg = TrainConfig(steps=2, batch_size=4, learning_rate=1e-3, warmup_steps=1, checkpoint_every=2, log_every=1)
    state, history = train_apprentice(graphdef, params, _data(), base.tokenizer.encode([""])[0], DIFFUSION, cfg, 5,
                                      seed=0)
    out = tmp_path_factory.mktemp("apprentice") / "model"
    export_model(out, state["ema"], {"model": TINY, "diffusion": DIFFUSION, "tokenizer": base.tokenizer.to_json(),
                                     "apprentice": {"max_demos": 5, "demo_dim": E}}, write_extra=encoder.save)
    return out, history


def _export_as(trained_dir, base, encoder, out, **meta):
    """The `trained` apprentice re-exported with its meta's apprentice entries set to `meta`."""
    pipe = ApprenticePipeline.load(trained_dir)
    export_model(out, pipe.params, {"model": TINY, "diffusion": DIFFUSION, "tokenizer": base.tokenizer.to_json(),
                                    "apprentice": {"max_demos": 5, "demo_dim": E, **meta}}, write_extra=encoder.save)
    return str(out)


def test_the_clusters_phase_continues_an_in_context_apprentice_but_not_an_imitating_one(trained, base, encoder,
                                                                                       tmp_path):
    cfg = ApprenticeConfig(max_demos=5, demo_path="clip")  # the tiny apprentices read CLIP only
    pretrained = _export_as(trained[0], base, encoder, tmp_path / "pretrained", phase="pretrain")
    args = argparse.Namespace(phase="clusters", init=pretrained, params={}, scorer=None)
    graphdef, params, tokenizer, *_ = stage.start(args, cfg, seed=0)
    jax.tree.map(np.testing.assert_array_equal, params, ApprenticePipeline.load(pretrained).params)
    args.init = _export_as(trained[0], base, encoder, tmp_path / "imitated", phase="experts")
    with pytest.raises(SutiError, match="imitated experts"):
        stage.start(args, cfg, seed=0)


def test_only_an_in_context_trained_apprentice_replays_the_clusters(trained, base, encoder, tmp_path):
    cfg = ApprenticeConfig(cluster_replay=0.25)
    base_dir = tmp_path / "base"
    export_model(base_dir, base.params, {"model": TINY, "diffusion": DIFFUSION, "tokenizer": base.tokenizer.to_json()})
    clusters = _export_as(trained[0], base, encoder, tmp_path / "clusters", phase="clusters")
    imitated = _export_as(trained[0], base, encoder, tmp_path / "imitated", phase="experts", cluster_replay=0.5)

    def share(phase, init):
        return stage.replay_share(argparse.Namespace(phase=phase, init=str(init)), cfg)

    assert share("experts", clusters) == 0.25    # imitation after the clusters phase
    assert share("experts", base_dir) == 0.0     # the experts-only ablation never sees a cluster
    assert share("clusters", clusters) == 0.0
    assert share("distill", imitated) == 0.5     # a distillation replays what its teacher's imitation did


def test_in_context_quality_reads_held_out_identities_with_the_probe(trained, repo):
    from suti.pretrain.apprentice import in_context_quality, preview
    from suti.scoring.probe import load_probe

    pipe = ApprenticePipeline.load(trained[0])
    quality, rows = in_context_quality(pipe, load_probe(repo / "pretrained/probe")[:2], 0, 8, SAMPLE, identities=3,
                                       demos=2, n=2)
    read = quality["in_context"]
    assert set(read) == {"class", "colour", "pattern", "all3"} and all(0.0 <= v <= 1.0 for v in read.values())
    assert read["all3"] <= min(read["class"], read["colour"], read["pattern"])
    assert len(rows) == 3 and all(len(r) == 4 for r in rows)   # 2 demonstrations, 2 generations per identity
    height, width, _ = preview(rows).shape
    assert abs(height / width - 3 / 4) < 0.05                  # one row each


def test_pretrain_apprentice_then_release_it_beside_its_clip_and_base_model(base, repo, tmp_path):
    """`suti pretrain-apprentice` on a tiny base model and budget, then `suti release-pretrained --only apprentice`:
    the release loads, reads demonstrations with the CLIP beside it (no copy) and names its figures."""
    import json
    import shutil

    export_model(tmp_path / "base", base.params, {"model": TINY, "diffusion": DIFFUSION,
                                                  "tokenizer": base.tokenizer.to_json()})
    train = {"batch_size": 4, "steps": 2, "warmup_steps": 1, "checkpoint_every": 2, "log_every": 1}
    params = {"seed": 0, "world": {"resolution": 8}, "scorer": {},
              "base": {"model": {}, "diffusion": {}, "heldout_combos": [["mug", "beach"]]},
              "apprentice": {"max_demos": 5, "demo_patch": 0, "demo_path": "clip", "cross_attention_resolutions": []},
              "pretrain": {"seed": 1, "apprentice": {"identities": 4, "images_per_identity": 3, "train": train,
                                                     "sample": {"steps": 2}, "eval_identities": 2}}}
    out = tmp_path / "pretrain"
    args = ["--params", json.dumps(params), "--base", str(tmp_path / "base"), "--clip", str(repo / "pretrained/clip"),
            "--probe", str(repo / "pretrained/probe")]
    assert cli.main(["pretrain-apprentice", *args, "--model", str(out / "model"), "--summary",
                     str(out / "summary.json"), "--samples", str(out / "samples.png")]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pool_images"] == 12 and summary["identities"] == 2 and set(summary["in_context"]) >= {"colour"}
    released = tmp_path / "pretrained"
    released.mkdir()
    shutil.copytree(repo / "pretrained/clip", released / "clip")
    shutil.copytree(tmp_path / "base", released / "base")
    assert cli.main(["release-pretrained", "--params", json.dumps(params), "--only", "apprentice", "--apprentice",
                     str(out / "model"), "--apprentice-summary", str(out / "summary.json"), "--samples",
                     str(out / "samples.png"), "--reading-judge", str(repo / "pretrained/judge"), "--out",
                     str(released), "--record", str(tmp_path / "record.json")]) == 0
    assert not (released / "apprentice/demo_encoder/model").exists()
    pipe = ApprenticePipeline.load(released / "apprentice")
    for a, b in zip(jax.tree.leaves(pipe.params), jax.tree.leaves(ApprenticePipeline.load(out / "model").params)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-2, atol=1e-3)   # float16 in the release
    record = json.loads((released / "apprentice/provenance.json").read_text())
    assert record["name"] == "suti-pretrained-apprentice" and record["quality"]["in_context"] == summary["in_context"]
    # the released judge reads 32 px renders of the world: at 8 px the reading is missing, with the reason
    assert "world.resolution (config 8, released 32)" in record["quality"]["in_context_identity"]["missing"]
    assert pipe.encoder.id == DemoEncoder.load(ClipSpec(), str(repo / "pretrained/clip")).id
    # continued on the both path (pretrain.apprentice.init_from): the clip apprentice's weights, feature maps added
    both = dict(params, apprentice=dict(params["apprentice"], demo_path="both", map_encoder="shared",
                                        map_resolutions=[4, 2], map_key_side=2))
    assert cli.main(["pretrain-apprentice", *args[:1], json.dumps(both), *args[2:], "--init-from", str(out / "model"),
                     "--model", str(tmp_path / "both/model"), "--summary", str(tmp_path / "both/summary.json"),
                     "--samples", str(tmp_path / "both/samples.png")]) == 0
    continued = ApprenticePipeline.load(tmp_path / "both/model")
    assert continued.demo_path == "both" and continued.model_cfg.unet.reference_resolutions == (4, 2)
    assert json.loads((tmp_path / "both/model/meta.json").read_text())["apprentice"]["init"] == str(out / "model")


def test_two_step_training_smoke(trained):
    _, history = trained
    assert [h["step"] for h in history] == [1, 2] and all(np.isfinite(h["loss"]) for h in history)


def test_generation_is_deterministic_for_a_seed(trained):
    pipe = ApprenticePipeline.load(trained[0])
    demos = list(np.random.default_rng(3).integers(0, 255, (3, 8, 8, 3), dtype=np.uint8))
    a = generate(pipe, demos, "mug", "a {} on the beach", 2, 0, SAMPLE)
    b = generate(pipe, demos, "mug", "a {} on the beach", 2, 0, SAMPLE)
    c = generate(pipe, demos, "mug", "a {} on the beach", 2, 1, SAMPLE)
    assert a.shape == (2, 8, 8, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_dream_suti_tunes_a_copy_deterministically(trained):
    from suti.apprentice.dream import DreamSutiTuner, dream_suti_key
    from suti.evaluation.config import DreamSutiConfig

    pipe = ApprenticePipeline.load(trained[0])
    before = jax.tree.map(np.array, pipe.params)
    tuner = DreamSutiTuner(pipe, DreamSutiConfig(steps=2, batch_size=3, learning_rate=1e-3))
    demos = list(np.random.default_rng(4).integers(0, 255, (2, 8, 8, 3), dtype=np.uint8))
    d, m = pipe.demo_arrays(demos)
    images = np.stack(demos).astype(np.float32) / 127.5 - 1.0
    prompt = pipe.tokenizer.encode(["a photo of a mug"])[0]
    batch = tuner.batch(images, d, m, prompt, step=1)
    np.testing.assert_array_equal(batch["images"], images[[1, 0, 1]])  # the demonstrations in turn, cycled
    assert batch["demos"].shape == (3, 5, E) and batch["demo_mask"].sum() == 6
    a = tuner.tune(images, d, m, "mug", dream_suti_key(0, "subject-a"))
    b = tuner.tune(images, d, m, "mug", dream_suti_key(0, "subject-a"))
    jax.tree.map(np.testing.assert_array_equal, a, b)
    jax.tree.map(np.testing.assert_array_equal, before, pipe.params)  # the pipeline's own weights are untouched
    moved = jax.tree.map(lambda x, y: float(np.abs(np.asarray(x) - y).max()), a, before)
    assert max(jax.tree.leaves(moved)) > 0


def test_generate_cli_writes_a_grid_and_fails_in_one_line(trained, tmp_path, capsys):
    demo = tmp_path / "a.png"
    demo.write_bytes(encode_png(np.full((16, 16, 3), 90, np.uint8)))
    out = tmp_path / "out.png"
    base_args = ["generate", "--ckpt", str(trained[0]), "--class", "mug", "--prompt", "a {} on the beach",
                 "--n", "2", "--steps", "2", "--out", str(out)]
    assert cli.main(base_args + ["--demos", str(demo), str(demo)]) == 0 and out.stat().st_size > 0
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    for demos, message in (([str(tmp_path / "missing.png")], "does not exist"), ([str(bad)], "not a readable image"),
                           ([str(demo)] * 6, "at most 5")):
        capsys.readouterr()
        assert cli.main(base_args + ["--demos", *demos]) == 2
        err = capsys.readouterr().err.strip()
        assert message in err and "\n" not in err, err


def _distill_loss(base, guidance, params, teacher, seed=0):
    """The guidance-distillation loss of student `params` against `teacher` on one fixed batch (unweighted)."""
    from suti.apprentice.distill import make_distill_loss
    from suti.diffusion.process import Prediction
    from suti.diffusion.schedules import get_schedule

    graphdef, _ = init_apprentice(base, max_demos=5, demo_dim=E, seed=0)
    loss_fn = make_distill_loss(guidance)(graphdef, get_schedule("cosine", DIFFUSION.num_steps), Prediction.V, 0.0,
                                          jnp.asarray(base.tokenizer.encode([""])[0]), 0.0)
    batch = apprentice_batch(_data(), max_demos=5, batch_size=4, seed=0, step=0) | {"teacher": teacher}
    return float(loss_fn(params, batch, jax.random.key(seed))[0])


def test_distillation_aims_at_the_teachers_guided_output(base):
    """A student equal to its teacher renders the teacher's conditional output, so its distance to the guided output
    uncond + w (cond - uncond) is (w - 1)^2 |cond - uncond|^2: zero at w = 1, four times w = 2's at w = 3."""
    _, params = init_apprentice(base, max_demos=5, demo_dim=E, seed=0)
    params = perturbed(params)
    at = {w: _distill_loss(base, w, params, params) for w in (1.0, 2.0, 3.0)}
    assert at[1.0] < 1e-12 and at[2.0] > 1e-4
    np.testing.assert_allclose(at[3.0], 4 * at[2.0], rtol=1e-4)


def test_distillation_moves_the_student_toward_the_guided_teacher(base):
    from suti.apprentice.config import DistillConfig
    from suti.apprentice.training import distill_apprentice

    graphdef, teacher = init_apprentice(base, max_demos=5, demo_dim=E, seed=0)
    teacher = perturbed(teacher)
    cfg = DistillConfig(steps=30, batch_size=4, learning_rate=3e-3, warmup_steps=1, ema_decay=0.0,
                        checkpoint_every=30, log_every=10, guidance=3.0, min_snr_gamma=0.0)
    state, _ = distill_apprentice(graphdef, teacher, _data(), base.tokenizer.encode([""])[0], DIFFUSION, cfg, 5, 0)
    before = np.mean([_distill_loss(base, 3.0, teacher, teacher, s) for s in range(4)])
    after = np.mean([_distill_loss(base, 3.0, state["params"], teacher, s) for s in range(4)])
    assert after < 0.9 * before, (before, after)  # 30 steps of a tiny model: ~0.8x


def test_a_distilled_apprentice_renders_in_one_pass_at_its_own_scale(trained):
    """Distilled, the pipeline skips guidance's null half whatever scale it is asked for: its images are the
    conditional model's (what guidance 1 renders)."""
    import dataclasses

    pipe = ApprenticePipeline.load(trained[0])
    distilled = dataclasses.replace(pipe, distilled_guidance=3.0)
    demos = list(np.random.default_rng(3).integers(0, 255, (3, 8, 8, 3), dtype=np.uint8))
    one_pass = generate(distilled, demos, "mug", "a {} on the beach", 2, 0, SAMPLE)
    np.testing.assert_array_equal(one_pass, generate(pipe, demos, "mug", "a {} on the beach", 2, 0,
                                                     dataclasses.replace(SAMPLE, guidance=1.0)))
    assert not np.array_equal(one_pass, generate(pipe, demos, "mug", "a {} on the beach", 2, 0, SAMPLE))


def test_patch_tokens_carry_their_own_patch_of_each_demonstration(base):
    """With apprentice.demo_patch, a demonstration's pixels (the last R*R*3 features) enter as one token per patch:
    changing one pixel changes that patch's token alone, and only in its own demonstration's slot."""
    side, patch = TINY.unet.resolution, 4
    graphdef, params = init_apprentice(base, max_demos=5, demo_dim=E + 3 * side * side, seed=0, demo_patch=patch)
    model = nnx.merge(graphdef, params)
    embeddings, mask = _demos(1, 3)
    pixels = np.random.default_rng(2).uniform(-1, 1, (1, 5, side, side, 3)).astype(np.float32)
    features = np.concatenate([np.asarray(embeddings), pixels.reshape(1, 5, -1)], axis=-1)
    tokens, token_mask = model.demo_tokens(jnp.asarray(features), mask)
    per_demo = model.tokens_per_demo + (side // patch) ** 2
    assert tokens.shape == (1, 5 * per_demo, 16) and int(token_mask.sum()) == 3 * per_demo
    pixels[0, 1, 0, 5] += 0.5  # demonstration 1, row 0, column 5: the patch in grid row 0, column 1
    moved, _ = model.demo_tokens(jnp.asarray(np.concatenate([np.asarray(embeddings), pixels.reshape(1, 5, -1)], -1)),
                                 mask)
    changed = np.flatnonzero(np.abs(np.asarray(moved - tokens)).max(-1)[0] > 0)
    assert changed.tolist() == [per_demo + model.tokens_per_demo + 1]


def test_an_encoder_with_pixels_appends_the_resized_image(encoder):
    images = np.random.default_rng(4).integers(0, 255, (2, 16, 16, 3), dtype=np.uint8)
    with_pixels = DemoEncoder(encoder.clip, encoder.spec, encoder.folder, pixels=8)
    features = with_pixels(images)
    assert features.shape == (2, E + 3 * 64) and with_pixels.dim == E + 3 * 64
    np.testing.assert_allclose(features[:, :E], encoder(images), atol=1e-6)
    assert features[:, E:].min() >= -1.0 and features[:, E:].max() <= 1.0 and "+pixels@8px" in with_pixels.id


def test_a_patch_reading_apprentice_exports_and_renders(base, encoder, tmp_path):
    side = TINY.unet.resolution
    with_pixels = DemoEncoder(encoder.clip, encoder.spec, encoder.folder, pixels=side)
    _, params = init_apprentice(base, max_demos=5, demo_dim=with_pixels.dim, seed=0, demo_patch=4)
    export_model(tmp_path / "model", params, {"model": TINY, "diffusion": DIFFUSION,
                                              "tokenizer": base.tokenizer.to_json(),
                                              "apprentice": {"max_demos": 5, "demo_dim": with_pixels.dim,
                                                             "demo_patch": 4}}, write_extra=with_pixels.save)
    pipe = ApprenticePipeline.load(tmp_path / "model")
    assert pipe.demo_patch == 4 and pipe.encoder.pixels == side
    demos = list(np.random.default_rng(3).integers(0, 255, (2, side, side, 3), dtype=np.uint8))
    assert generate(pipe, demos, "mug", "a {} on the beach", 2, 0, SAMPLE).shape == (2, side, side, 3)


def test_cross_attention_at_a_further_side_starts_as_the_base_model(base):
    """apprentice.cross_attention_resolutions: new cross-attention blocks (here at the 2 x 2 cells, where the base
    model has none) leave the base's outputs unchanged until trained, and keep every base weight."""
    wide = with_attention(base, (2,), seed=0)
    assert wide.model_cfg.unet.cross_attention_resolutions == (8, 4, 2)
    assert with_attention(base, (4,), seed=0) is base  # already there: nothing to add
    old, new = nnx.merge(base.graphdef, base.params), nnx.merge(wide.graphdef, wide.params)
    assert sum(x.size for x in jax.tree.leaves(wide.params)) > sum(x.size for x in jax.tree.leaves(base.params))
    tokens = jnp.asarray(base.tokenizer.encode(["a mug on the beach", "a red ball"]))
    x = jnp.asarray(np.random.default_rng(1).normal(size=(2, 8, 8, 3)), jnp.float32)
    t = jnp.array([3, 40])
    np.testing.assert_array_equal(new(x, t, new.encode_text(tokens)), old(x, t, old.encode_text(tokens)))
    moved = nnx.merge(wide.graphdef, perturbed(wide.params))
    nnx.update(moved, base.params)  # every weight the base's again, but the new blocks': they do act once trained
    assert float(jnp.abs(moved(x, t, moved.encode_text(tokens)) - old(x, t, old.encode_text(tokens))).max()) > 1e-4
