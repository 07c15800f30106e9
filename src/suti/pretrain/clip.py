"""The pretrained CLIP: the small open_clip model trained on the pretraining render stream, and its quality figures
(zero-shot class, colour and background from caption-style prompts; image-to-caption retrieval), all on renders of
held-out identities."""

from __future__ import annotations

import functools
import itertools

import numpy as np

from suti import streams, world
from suti.pretrain import milestones, stream
from suti.scoring.clip_training import (
    BPE_VOCAB,
    ScorerConfig,
    Vocabulary,
    fit_clip,
    retrieval_accuracy,
    to_tensor,
    tokenize,
)
from suti.world import prompts, vocab

SCENE_BACKGROUNDS = tuple(b for b in vocab.BACKGROUNDS if b != "studio")  # the ones a prompt names


def tokenized(context_length: int, vocabulary: Vocabulary | None, rendered: dict) -> tuple:
    """(images uint8, token ids as numpy): the slow half of a batch (open_clip's tokenizer), made in a worker."""
    tokens = tokenize(rendered["captions"], context_length).numpy()
    return rendered["images"], tokens if vocabulary is None else vocabulary(tokens)


def synthbench_vocabulary(seed: int, context_length: int, captions: int = 2000) -> Vocabulary:
    """The BPE tokens of every prompt and caption word SynthBench has (`prompts.vocabulary_texts`) and of `captions`
    captions of the stream (their spellings: "close-up")."""
    texts = list(prompts.vocabulary_texts())
    rng = np.random.default_rng([seed, streams.EVAL_CLIP_VOCABULARY])
    for _ in range(captions):
        subject, scene = stream.draw(rng, seed)
        texts.append(world.describe(subject, scene, rng))
    return Vocabulary.of_texts(texts, context_length)


def stream_batches(cfg: ScorerConfig, seed: int, resolution: int, workers: int = 0, stream_id=streams.PRETRAIN_CLIP,
                   vocabulary: Vocabulary | None = None):
    """(batch_fn(step) -> (pixels, tokens) of the CLIP's stream `stream_id`: fresh renders every step, made ahead by
    `workers` processes, tokens renumbered by `vocabulary` where given; the pool to close when done)."""
    import torch

    pool = stream.RenderPool(workers, seed, stream_id, cfg.batch_size, resolution,
                             prepare=functools.partial(tokenized, cfg.context_length, vocabulary))

    def batch_fn(step):
        images, tokens = pool(step)
        return to_tensor(images), torch.from_numpy(tokens)

    return batch_fn, pool


def pretrain_clip(cfg: ScorerConfig, seed: int, resolution: int, bar=None, ckpt_dir=None, checkpoint_every=250,
                  stop_at=None, workers: int = 0, curve_every: int = 0, on_reading=None,
                  stream_id=streams.PRETRAIN_CLIP, vocabulary: Vocabulary | None = None):
    """(model, history): the small CLIP trained for cfg.steps on the stream `stream_id` (over the tokens of
    `vocabulary`, where given), resumable from `ckpt_dir`; `workers` processes render ahead (for an accelerator).
    Every `curve_every` steps (a multiple of `checkpoint_every`, so each segment resumes from the previous one's save)
    and at the end, `on_reading(step, model)` reads the curve."""
    if curve_every and (not ckpt_dir or curve_every % checkpoint_every):
        raise ValueError("curve_every needs ckpt_dir and must be a multiple of checkpoint_every")
    batch_fn, pool = stream_batches(cfg, seed, resolution, workers, stream_id, vocabulary)
    vocab_size = vocabulary.size if vocabulary is not None else BPE_VOCAB
    history = []
    with pool:
        for stop in milestones(min(cfg.steps, stop_at or cfg.steps), curve_every):
            model, segment = fit_clip(cfg, resolution, batch_fn, seed, bar, ckpt_dir, stop, checkpoint_every,
                                      vocab_size)
            history += segment
            if on_reading is not None:
                on_reading(stop, model)
    return model, history


class TrainingClip:
    """The scorer interface (`embed_images`, `embed_texts`) over an open_clip model in memory, for the learning
    curve: the same preprocessing as `ClipScorer` at the model's native size."""

    def __init__(self, model, context_length: int, vocabulary: Vocabulary | None = None):
        self.model, self.context_length, self.vocabulary = model.eval(), context_length, vocabulary

    def embed_images(self, images_u8: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model.encode_image(to_tensor(images_u8), normalize=True).numpy()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        tokens = tokenize(texts, self.context_length)
        with torch.no_grad():
            return self.model.encode_text(tokens if self.vocabulary is None else self.vocabulary(tokens),
                                          normalize=True).numpy()


def heldout_renders(n: int, seed: int, resolution: int) -> dict:
    """Renders of held-out identities in named backgrounds: images, captions and true class / colour / background."""
    out = {"images": [], "captions": [], "class": [], "colour": [], "background": []}
    rng = np.random.default_rng([seed, streams.PRETRAIN_EVAL])
    while len(out["images"]) < n:
        subject, scene = stream.draw(rng, seed, heldout=True)
        if scene.background == "studio":
            continue
        out["images"].append(world.render(subject, scene, resolution))
        out["captions"].append(world.describe(subject, scene, rng))
        out["class"].append(subject.cls)
        out["colour"].append(world.render_appearance(subject, scene)["colour"])
        out["background"].append(scene.background)
    out["images"] = np.stack(out["images"])
    return out


def zero_shot(scorer, renders: dict) -> dict:
    """Accuracy of each attribute read zero-shot: every "a photo of a {colour} {class} {background}" prompt is
    scored against each image, and the best one's class, colour and background are compared with the truth."""
    combos = list(itertools.product(vocab.COLOURS, vocab.CLASSES, SCENE_BACKGROUNDS))
    texts = [prompts.scene_prompt(cls, colour, bg) for colour, cls, bg in combos]
    best = np.argmax(scorer.embed_images(renders["images"]) @ scorer.embed_texts(texts).T, axis=1)
    picked = [combos[i] for i in best]
    return {f"zero_shot_{name}": float(np.mean([p[k] == t for p, t in zip(picked, renders[name])]))
            for k, name in enumerate(("colour", "class", "background"))}


def quality(scorer, n: int, seed: int, resolution: int) -> dict:
    """Zero-shot accuracies and caption retrieval (R@1, R@5) on `n` held-out renders."""
    renders = heldout_renders(n, seed, resolution)
    images = scorer.embed_images(renders["images"])
    return dict(zero_shot(scorer, renders), **retrieval_accuracy(images, renders["captions"], scorer.embed_texts),
                zero_shot_chance={"class": 1 / len(vocab.CLASSES), "colour": 1 / len(vocab.COLOURS),
                                  "background": 1 / len(SCENE_BACKGROUNDS)}, eval_images=n)
