"""`suti train-scorer`: the small CLIP (open_clip custom config) trained on the corpus captions, with its
image-to-text retrieval accuracy on the captions of held-out pages."""

from __future__ import annotations

import time

import numpy as np

from suti.config import from_dict
from suti.data import tables
from suti.data.images import decode_image
from suti.errors import SutiError
from suti.scoring.clip import ClipScorer
from suti.scoring.clip_training import (
    ScorerConfig,
    export_clip,
    is_heldout_page,
    retrieval_accuracy,
    train_clip,
)
from suti.pretrain import release
from suti.stages.common import add_params_argument, log, progress, write_summary

HELP = "train the small CLIP scorer on the corpus captions"


def add_arguments(p) -> None:
    add_params_argument(p)
    p.add_argument("--corpus", required=True, nargs="+", help="corpus shards")
    p.add_argument("--model", required=True, help="output open_clip local-dir folder")
    p.add_argument("--summary", required=True, help="output JSON: retrieval accuracy on held-out captions")
    p.add_argument("--pretrained", help="a released CLIP (pretrained/clip): checked against the config and world, "
                                        "copied to --model and measured, instead of training")


def caption_pairs(corpus_paths, heldout_fraction: float):
    """(images uint8 [N, H, W, 3], captions, held-out mask [N]): decodable images with non-empty captions."""
    images, captions, heldout = [], [], []
    for row in tables.read_corpus(corpus_paths).select(["page_id", "image", "caption"]).to_pylist():
        image = decode_image(row["image"])
        if image is None or not row["caption"]:
            continue
        images.append(image)
        captions.append(row["caption"])
        heldout.append(is_heldout_page(row["page_id"], heldout_fraction))
    if not images:
        raise SutiError("train_scorer: the corpus has no decodable image with a caption")
    return np.stack(images), captions, np.array(heldout)


def run(args) -> None:
    seed = int(args.params["seed"])
    cfg = from_dict(ScorerConfig, args.params["scorer"])
    images, captions, heldout = caption_pairs(args.corpus, cfg.heldout_fraction)
    if args.pretrained:
        return use_pretrained(args, images[heldout], [c for c, h in zip(captions, heldout) if h])
    train_captions = [c for c, h in zip(captions, heldout) if not h]
    log.info("train_scorer: %d pairs (%d held out)", len(captions), int(heldout.sum()))
    start = time.perf_counter()
    with progress(cfg.steps, "train_scorer") as bar:
        model, history = train_clip(cfg, images[~heldout], train_captions, seed, bar)
    seconds = time.perf_counter() - start
    export_clip(model, cfg, images.shape[1], args.model, {"name": "suti-small-clip", "scorer": cfg.__dict__,
                                                                  "train_seconds": seconds})
    scorer = ClipScorer(f"local-dir:{args.model}")  # measured as every later stage will load it
    accuracy = retrieval_accuracy(scorer.embed_images(images[heldout]), [c for c, h in zip(captions, heldout) if h],
                                  scorer.embed_texts)
    log.info("retrieval on held-out captions: %s", accuracy)
    write_summary(dict(accuracy, scorer=scorer.id, train_pairs=len(train_captions), train_seconds=seconds,
                       images_per_second=cfg.steps * cfg.batch_size / seconds, final_loss=history[-1]["loss"],
                       loss_curve=history[::20]), args.summary)


def use_pretrained(args, images: np.ndarray, captions: list[str]) -> None:
    """The released CLIP instead of a trained one, with its retrieval on this corpus's held-out captions."""
    resolution = int(args.params["world"]["resolution"])
    record = release.adopt(args.pretrained, args.model, "scorer.init", release.clip_architecture(args.params["scorer"]),
                           "scorer", resolution)
    scorer = ClipScorer(f"local-dir:{args.model}")
    accuracy = retrieval_accuracy(scorer.embed_images(images), captions, scorer.embed_texts)
    log.info("pretrained CLIP (%s), retrieval on held-out captions: %s", args.pretrained, accuracy)
    write_summary(dict(accuracy, scorer=scorer.id, init="pretrained", pretrained=str(args.pretrained),
                       git_commit=record["git_commit"], train_seconds=0.0,
                       zero_shot_heldout_renders={k: v for k, v in record["quality"].items()
                                                  if k.startswith("zero_shot")}), args.summary)
