"""Scorers and the ΔCLIP filter: metric maths on hand-made embeddings, sign conventions, monotone filtering, the
small CLIP trained and reloaded through open_clip, DINO's missing-with-reason path, the offline failure message."""

from __future__ import annotations

import numpy as np
import pytest

from suti.errors import SutiError
from suti.scoring import metrics
from suti.scoring.clip import ClipScorer
from suti.scoring.dino import DinoSpec, Missing, load_dino


def unit(*rows):
    x = np.array(rows, np.float64)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_clip_t_is_rowwise_cosine():
    images, texts = unit([1, 0], [1, 1]), unit([1, 0], [0, 1])
    np.testing.assert_allclose(metrics.clip_t(images, texts), [1.0, np.sqrt(0.5)])


def test_mean_similarity_and_leave_one_out():
    refs = unit([1, 0], [0, 1], [1, 1])
    image = unit([1, 0])
    np.testing.assert_allclose(metrics.mean_similarity(image, refs), [(1 + 0 + np.sqrt(0.5)) / 3])
    # a real image scored against its own subject leaves itself out: mean over the other two
    np.testing.assert_allclose(metrics.mean_similarity(refs[:1], refs, exclude=np.array([0])), [np.sqrt(0.5) / 2])
    # a subject with a single real image has nothing left to compare against
    assert np.isnan(metrics.mean_similarity(refs[:1], refs[:1], exclude=np.array([0]))[0])


def test_delta_clip_sign():
    """Positive when the sample matches the prompt better than the subject's own images do."""
    prompt = unit([0, 1])
    own = unit([1, 0], [1, 0.1])            # the subject's photos: not in the prompted context
    sample_follows = unit([0.2, 1])           # the sample shows the prompt
    sample_copies = unit([1, 0])              # the sample copies a training photo
    texts = prompt
    d_follow, reference = metrics.delta_clip(metrics.clip_t(sample_follows, texts), own, texts)
    d_copy, _ = metrics.delta_clip(metrics.clip_t(sample_copies, texts), own, texts)
    assert d_follow[0] > 0 > d_copy[0]
    np.testing.assert_allclose(reference, [(0 + unit([1, 0.1])[0, 1]) / 2])


def test_filter_is_monotone_in_tau_and_no_filter_keeps_all():
    rng = np.random.default_rng(0)
    delta, clip_i = rng.normal(0, 0.03, 500), rng.uniform(0.3, 0.9, 500)
    kept = [metrics.keep_mask(delta, clip_i, tau, 0.5).sum() for tau in (-0.1, 0.0, 0.01, 0.02, 0.03, 0.1)]
    assert all(a >= b for a, b in zip(kept, kept[1:])) and kept[0] > kept[-1]
    assert metrics.keep_mask(delta, clip_i, None, 0.5).all()
    # the CLIP-I floor applies on top of tau
    assert not metrics.keep_mask(np.array([1.0]), np.array([0.4]), 0.0, 0.5)[0]


def test_tau_names_round_trip():
    for tau in (None, 0.0, 0.01, 0.025):
        assert metrics.parse_tau(metrics.tau_name(tau)) == tau
    assert metrics.tau_name(0.01) == "0.010" and metrics.tau_name(None) == "none"


def test_offline_pretrained_clip_fails_fast_in_one_line(monkeypatch, tmp_path):
    """Absent weights are found missing before open_clip is asked to build the model (no download attempt, no
    model construction)."""
    import huggingface_hub.constants
    import open_clip

    def build(*args, **kwargs):
        raise AssertionError("the model was built before the weights were checked")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(open_clip, "create_model_and_transforms", build)
    with pytest.raises(SutiError) as err:
        ClipScorer("ViT-B-32", "laion2b_s34b_b79k")
    message = str(err.value)
    assert "\n" not in message and "ViT-B-32" in message and "laion2b_s34b_b79k" in message
    assert "scoring.clip.pretrained" in message  # says how to provide them


def test_unknown_clip_model_names_the_key():
    with pytest.raises(SutiError, match="scoring.clip.model"):
        ClipScorer("ViT-Q-99")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A small CLIP from an open_clip custom config, trained 3 steps and exported as a local-dir folder."""
    from suti.scoring.clip_training import ScorerConfig, export_clip, train_clip

    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (16, 32, 32, 3), dtype=np.uint8)
    captions = [f"a photo of a {c} mug" for c in ["red", "blue", "green", "pink"] * 4]
    cfg = ScorerConfig(embed_dim=16, width=32, layers=1, image_tower="vit", patch_size=8, context_length=32, steps=3,
                       batch_size=8, warmup_steps=1)
    model, history = train_clip(cfg, images, captions, seed=0)
    out = tmp_path_factory.mktemp("clip") / "model"
    export_clip(model, cfg, 32, out, {})
    return out, history, images


def test_trained_small_clip_round_trips_through_open_clip(tiny_clip):
    folder, history, images = tiny_clip
    assert len(history) == 3 and all(np.isfinite(h["loss"]) for h in history)
    scorer = ClipScorer(f"local-dir:{folder}")
    emb, text = scorer.embed_images(images[:5]), scorer.embed_texts(["a red mug", "a blue mug"])
    assert emb.shape == (5, 16) and text.shape == (2, 16)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert scorer.id.startswith("open_clip:model:local:")  # folder name when there is no meta.json and scorer.id.endswith("@32px")
    # the same weights load to the same embeddings (and the same id)
    again = ClipScorer(str(folder))
    np.testing.assert_allclose(again.embed_images(images[:5]), emb, atol=1e-6)
    assert again.id == scorer.id


def test_retrieval_accuracy_on_hand_made_embeddings():
    from suti.scoring.clip_training import retrieval_accuracy

    captions = ["a", "b", "a", "c"]
    table = {"a": [1, 0, 0], "b": [0, 1, 0], "c": [0, 0, 1]}
    images = unit([1, 0.1, 0], [0.1, 0, 1], [1, 0, 0.2], [0, 0.2, 1])  # image 1 retrieves "c" instead of "b"
    acc = retrieval_accuracy(images, captions, lambda texts: unit(*[table[t] for t in texts]))
    assert acc["retrieval_r1"] == 0.75 and acc["retrieval_r5"] == 1.0 and acc["retrieval_captions"] == 3


def test_dino_without_weights_is_missing_with_a_reason(tmp_path):
    missing = load_dino(DinoSpec())  # offline: the hub is never retried (HF_HUB_OFFLINE=1, tests/conftest.py)
    assert isinstance(missing, Missing) and "vit_small_patch16_224.dino" in missing.reason
    absent = load_dino(DinoSpec(weights=str(tmp_path / "nope.pth")))
    assert isinstance(absent, Missing) and "nope.pth" in absent.reason


def test_dino_from_a_local_weights_file(tmp_path):
    """The real loading path (timm, ViT-S/16 DINO architecture) with weights we write ourselves."""
    import timm
    import torch

    path = tmp_path / "dino_vits16.pth"
    torch.save(timm.create_model("vit_small_patch16_224.dino", pretrained=False, num_classes=0).state_dict(), path)
    scorer = load_dino(DinoSpec(weights=str(path)))
    emb = scorer.embed_images(np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8))
    assert emb.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert scorer.id.startswith("timm:vit_small_patch16_224.dino:file:dino_vits16.pth:") and scorer.id.endswith("@224px")


def test_mining_with_the_clip_embedder(tiny_clip, small_corpus):
    """mining.embedder clip: the scorer's image embeddings drive the per-page clustering."""
    from suti.data import tables
    from suti.mining.clusters import MiningConfig, mine
    from suti.mining.embed import get_embedder

    embedder = get_embedder("clip", scorer=ClipScorer(str(tiny_clip[0])))
    clusters, stats = mine(tables.read_corpus(small_corpus), MiningConfig(embedder="clip", similarity_threshold=0.3),
                           embedder, seed=0)
    assert len(clusters) > 0 and set(clusters.column("split").to_pylist()) <= {"train", "heldout"}
    assert stats.to_dict()["images_kept"] == len(clusters)


def test_hybrid_mining_embedding_averages_the_two_cosines(tiny_clip):
    from suti.mining.embed import ColorShapeEmbedder, get_embedder

    images = tiny_clip[2][:4]
    scorer = ClipScorer(str(tiny_clip[0]))
    hybrid = get_embedder("clip+color_shape", scorer=scorer).embed(images)
    a, b = ColorShapeEmbedder().embed(images), scorer.embed_images(images)
    np.testing.assert_allclose(hybrid @ hybrid.T, (a @ a.T + b @ b.T) / 2, atol=1e-5)


def test_jax_clip_text_tower_equals_open_clip(tmp_path):
    """The frozen text tower in JAX reproduces open_clip's text features (every position) and text embedding."""
    import torch

    from suti.models.clip_text import ClipTextTower
    from suti.scoring.clip_training import ScorerConfig, export_clip, train_clip

    rng = np.random.default_rng(1)
    captions = ["a photo of a red mug on the beach", "a blue ball", "", "my teal striped vase in the snow"]
    cfg = ScorerConfig(embed_dim=16, width=64, layers=2, head_width=16, image_tower="vit", patch_size=8,
                       context_length=12, steps=2,
                       batch_size=4, warmup_steps=1)  # 4 heads, 2 layers: the head split and the stacking are checked
    model, _ = train_clip(cfg, rng.integers(0, 255, (4, 32, 32, 3), dtype=np.uint8), captions, seed=0)
    export_clip(model, cfg, 32, tmp_path / "clip", {})
    tower = ClipTextTower.load(tmp_path / "clip")
    tokens = tower.tokenize(captions)
    assert tokens.shape == (4, 12) and tower.width == 64
    with torch.no_grad():
        t = torch.from_numpy(tokens).long()
        x = model.token_embedding(t) + model.positional_embedding
        want = model.ln_final(model.transformer(x, attn_mask=model.attn_mask)).numpy()
        want_pooled = model.encode_text(t).numpy()
    got, mask = tower(tokens)
    np.testing.assert_allclose(np.asarray(got), want, atol=2e-5)
    np.testing.assert_allclose(np.asarray(tower.pooled(tokens)), want_pooled, atol=2e-5)
    assert np.asarray(mask).sum(1).tolist() == [int(np.argmax(r)) + 1 for r in tokens]  # up to end-of-text
    with pytest.raises(SutiError, match="not an open_clip model folder"):
        ClipTextTower.load(tmp_path)


def test_text_tower_from_the_open_clip_registry_fails_fast_offline(monkeypatch):
    """base.text_tower "MODEL:PRETRAINED" loads through open_clip's registry; offline and absent, one line naming
    the key and how to provide the weights; an unknown name fails before any download."""
    from suti.models.clip_text import ClipTextTower

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SutiError) as err:
        ClipTextTower.load("ViT-B-32:laion2b_s34b_b79k")
    assert "\n" not in str(err.value) and str(err.value).startswith("base.text_tower: no weights")
    with pytest.raises(SutiError, match="base.text_tower: unknown open_clip model 'ViT-Q-99'"):
        ClipTextTower.load("ViT-Q-99:whatever")


def test_model_registry_is_cached_and_knows_installed_names(tmp_path, monkeypatch):
    from suti.scoring import registry

    monkeypatch.setenv("SUTI_CACHE_DIR", str(tmp_path))
    reg = registry.registry()
    assert list(tmp_path.glob("model-registry-open_clip_torch*-timm*.json"))
    assert "ViT-B-32" in reg["open_clip_models"] and "laion2b_s34b_b79k" in reg["open_clip_pretrained"]["ViT-B-32"]
    assert "vit_small_patch16_224.dino" in reg["timm_pretrained"]
    assert registry.registry() == reg  # read back from the JSON
    registry.check_open_clip("ViT-B-32", "laion2b_s34b_b79k", "k")
    registry.check_open_clip("ViT-B-32", "Laion2B-s34B-b79K", "k")  # open_clip's own tag normalisation
    registry.check_timm("vit_small_patch16_224.dino", "k")
    registry.check_timm("vit_small_patch16_224", "k")
    with pytest.raises(SutiError, match="k: unknown timm model 'vit_q_99'"):
        registry.check_timm("vit_q_99", "k")
    with pytest.raises(SutiError, match="k: open_clip 'ViT-B-32' has no pretrained tag 'bogus'"):
        registry.check_open_clip("ViT-B-32", "bogus", "k")


def test_weights_in_the_hub_cache_or_a_file_count_as_present(tmp_path, monkeypatch):
    """The offline check looks where open_clip would: the Hugging Face cache (safetensors or .bin), a URL's file in
    ~/.cache/clip, or a checkpoint file; without them, offline, one line."""
    import huggingface_hub.constants

    from suti.scoring import registry

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert not registry.open_clip_weights_present("ViT-B-32", "laion2b_s34b_b79k")
    repo = tmp_path / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / registry.HF_SAFE_WEIGHTS).write_bytes(b"weights")
    assert registry.open_clip_weights_present("ViT-B-32", "laion2b_s34b_b79k")
    registry.require_open_clip_weights("ViT-B-32", "laion2b_s34b_b79k", "scoring.clip.model")
    (tmp_path / "w.pt").write_bytes(b"weights")
    assert registry.open_clip_weights_present("ViT-B-32", str(tmp_path / "w.pt"))
    with pytest.raises(SutiError, match="scoring.clip.model: no weights for open_clip 'ViT-B-16' pretrained='openai'"):
        registry.require_open_clip_weights("ViT-B-16", "openai", "scoring.clip.model")
