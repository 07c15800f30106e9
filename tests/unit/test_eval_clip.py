"""The evaluation CLIP (suti.evaluation.eval_clip): a second small CLIP over SynthBench's tokens that scores evaluation
images and nothing else, released in pretrained/eval_clip, never the CLIP that mining, the filter and the apprentice
read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from suti import codedeps, streams
from suti.cli import COMMANDS
from suti.evaluation.eval_clip import load_eval_clip
from suti.scoring.bpe import bpe_tokenize
from suti.scoring.clip import ClipScorer, ClipSpec
from suti.scoring.clip_training import BPE_VOCAB, ScorerConfig, Vocabulary, export_clip

REPO = Path(__file__).resolve().parents[2]
RELEASED = REPO / "pretrained" / "eval_clip"
TINY = ScorerConfig(embed_dim=16, width=32, layers=1, image_tower="resnet", resnet_width=4, context_length=16,
                    steps=2, batch_size=8, warmup_steps=1)


def test_a_vocabulary_renumbers_known_tokens_in_order_and_the_rest_to_one_unknown_row():
    import torch

    tokens = bpe_tokenize(["a red mug", "a blue ball"], 16)
    vocabulary = Vocabulary(np.unique(tokens))
    mapped = vocabulary(tokens)
    assert vocabulary.size == len(np.unique(tokens)) + 1  # pad (0) shared, the unknown row added
    assert (mapped[tokens == 0] == 0).all() and mapped.max() == vocabulary.size - 1
    # order kept: open_clip pools a caption at its largest id, the end token, in both numberings
    assert (np.argmax(mapped, axis=1) == np.argmax(tokens, axis=1)).all()
    assert (np.diff(vocabulary(np.array(vocabulary.ids))) > 0).all()
    unseen = vocabulary(bpe_tokenize(["a red zeppelin"], 16))
    assert (unseen == Vocabulary.UNKNOWN).sum() >= 1 and unseen.max() == vocabulary.size - 1
    assert torch.equal(vocabulary(torch.from_numpy(tokens)), torch.from_numpy(mapped))
    assert Vocabulary(range(1, BPE_VOCAB)).size == BPE_VOCAB + 1


def test_synthbench_vocabulary_knows_every_evaluation_prompt_and_stream_caption():
    from suti.pretrain import stream
    from suti.pretrain.clip import synthbench_vocabulary
    from suti.world import describe, prompts, vocab

    vocabulary = synthbench_vocabulary(2, 16, captions=200)
    texts = [p.format(c) for p in prompts.PROMPTS for c in vocab.CLASSES]
    texts += [prompts.scene_prompt(c, colour, bg) for c in vocab.CLASSES for colour in vocab.COLOURS
              for bg in vocab.BACKGROUNDS]
    rng = np.random.default_rng(99)  # captions the vocabulary was not built from
    texts += [describe(*stream.draw(rng, 7), rng) for _ in range(300)]
    assert (vocabulary(bpe_tokenize(texts, 16)) != Vocabulary.UNKNOWN).all()
    assert vocabulary.size < 200  # a few hundred rows of 49,408


def test_an_evaluation_clip_over_a_vocabulary_exports_and_loads_with_its_tokenizer(tmp_path):
    from suti.pretrain.clip import pretrain_clip, synthbench_vocabulary

    vocabulary = synthbench_vocabulary(2, 16, captions=50)
    model, _ = pretrain_clip(TINY, 2, 32, stream_id=streams.EVAL_CLIP_TRAIN, vocabulary=vocabulary)
    assert model.token_embedding.weight.shape[0] == vocabulary.size
    export_clip(model, TINY, 32, tmp_path / "clip", {"name": "suti-evaluation-clip"}, vocabulary)
    scorer = ClipScorer(f"local-dir:{tmp_path / 'clip'}")
    assert scorer.id.startswith("open_clip:suti-evaluation-clip:local:")
    import torch

    tokens = scorer.tokenizer(["a red mug on the beach"])
    assert int(tokens.max()) == vocabulary.size - 1  # renumbered: the end token is the last row
    with torch.no_grad():
        expected = model.encode_text(vocabulary(torch.from_numpy(bpe_tokenize(["a red mug on the beach"], 16))),
                                     normalize=True).numpy()
    np.testing.assert_allclose(scorer.embed_texts(["a red mug on the beach"]), expected, atol=1e-5)


def test_a_missing_or_mismatched_evaluation_clip_leaves_clip_metrics_missing_with_the_reason(tmp_path):
    clip, reason = load_eval_clip(ClipSpec(), None, 32)
    assert clip is None and reason.startswith("missing: no evaluation CLIP given")
    clip, reason = load_eval_clip(ClipSpec(), tmp_path / "nowhere", 32)
    assert clip is None and "no released model at" in reason and "release-eval_clip.json" in reason
    stale = tmp_path / "stale"
    shutil.copytree(RELEASED, stale)
    record = json.loads((stale / "provenance.json").read_text())
    (stale / "provenance.json").write_text(json.dumps(dict(record, world_fingerprint="0" * 16)))
    clip, reason = load_eval_clip(ClipSpec(), stale, 32)
    assert clip is None and "scoring.eval_clip" in reason and "the world" in reason


def test_the_released_evaluation_clip_is_not_the_scoring_clip_and_reads_prompts():
    """Its id is its own, and on ground-truth renders of an experiment's world (seed 0, not its training world) it
    ranks the true class-and-background prompt above a wrong-class one, and above a wrong-background one."""
    from suti import world
    from suti.world import prompts, vocab

    clip, clip_id = load_eval_clip(ClipSpec(), RELEASED, 32)
    scoring = ClipScorer(f"local-dir:{REPO / 'pretrained/clip'}")
    assert clip_id.startswith("open_clip:suti-evaluation-clip:local:") and clip_id != scoring.id
    rng = np.random.default_rng(0)
    backgrounds = [b for b in vocab.BACKGROUNDS if b != "studio"]
    images, right, wrong_class, wrong_bg = [], [], [], []
    for i in range(64):
        subject = world.make_subject(0, i)
        bg = backgrounds[i % len(backgrounds)]
        images.append(world.render(subject, world.sample_scene(rng, background=bg), 32))
        other_cls = vocab.CLASSES[(vocab.CLASSES.index(subject.cls) + 1) % len(vocab.CLASSES)]
        other_bg = backgrounds[(i + 1) % len(backgrounds)]
        right.append(prompts.scene_prompt(subject.cls, None, bg))
        wrong_class.append(prompts.scene_prompt(other_cls, None, bg))
        wrong_bg.append(prompts.scene_prompt(subject.cls, None, other_bg))
    emb = clip.embed_images(np.stack(images))
    score = lambda texts: np.sum(emb * clip.embed_texts(texts), axis=1)  # noqa: E731
    assert np.mean(score(right) > score(wrong_class)) >= 0.8
    assert np.mean(score(right) > score(wrong_bg)) >= 0.8


def test_no_training_or_filtering_code_path_loads_the_evaluation_clip():
    """The evaluation CLIP only scores evaluation images: of every command, only evaluation reaches its loader."""
    readers = {"evaluate", "score-eval"}
    loader = REPO / "src/suti/evaluation/eval_clip.py"
    for command, module in COMMANDS.items():
        reached = loader in set(codedeps.closure(REPO / "src", f"suti.stages.{module.partition(':')[0]}"))
        assert reached == (command in readers), f"suti {command}: reaches the evaluation CLIP: {reached}"
