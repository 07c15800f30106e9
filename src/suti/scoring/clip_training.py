"""The small CLIP for CPU runs: an open_clip custom model config trained on the corpus captions with open_clip's own
contrastive loss (`open_clip.ClipLoss`), exported as an open_clip `local-dir` folder that `ClipScorer` loads like any
other model.

Pages (not images) are split into train and held-out by a hash of the page id, so no held-out caption's page was
seen in training; image-to-text retrieval over the held-out captions is the scorer's reported quality.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import zlib
from pathlib import Path

import numpy as np

from suti import streams
from suti.config import schema_default
from suti.scoring.bpe import bpe_tokenize
from suti.scoring.clip import CONFIG_FILE, WEIGHTS_FILE

BPE_VOCAB = 49408  # open_clip's BPE vocabulary
VOCABULARY_FILE = "vocabulary.json"
MEAN, STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)  # open_clip's OpenAI stats


@dataclasses.dataclass(frozen=True)
class ScorerConfig:
    init: str = schema_default("scorer.init")  # pretrained: the released CLIP is loaded instead (stages.train_scorer)
    embed_dim: int = schema_default("scorer.embed_dim")
    width: int = schema_default("scorer.width")  # both towers
    layers: int = schema_default("scorer.layers")  # both towers
    head_width: int = schema_default("scorer.head_width")  # width per attention head
    patch_size: int = schema_default("scorer.patch_size")
    # vit | resnet (open_clip's ModifiedResNet: convolutions learn shape sooner)
    image_tower: str = schema_default("scorer.image_tower")
    resnet_layers: tuple[int, ...] = schema_default("scorer.resnet_layers")  # resnet: blocks per stage
    # resnet: stem width (the last stage has 32x as many channels)
    resnet_width: int = schema_default("scorer.resnet_width")
    context_length: int = schema_default("scorer.context_length")
    steps: int = schema_default("scorer.steps")
    batch_size: int = schema_default("scorer.batch_size")
    learning_rate: float = schema_default("scorer.learning_rate")
    warmup_steps: int = schema_default("scorer.warmup_steps")
    weight_decay: float = schema_default("scorer.weight_decay")
    heldout_fraction: float = schema_default("scorer.heldout_fraction")


def model_config(cfg: ScorerConfig, resolution: int, vocab_size: int = BPE_VOCAB) -> dict:
    """An open_clip model config (the `model_cfg` of open_clip_config.json) for the small CLIP; `vocab_size` below
    open_clip's 49,408 for a CLIP over a `Vocabulary`'s tokens."""
    return dict(
        embed_dim=cfg.embed_dim,
        vision_cfg=(dict(image_size=resolution, patch_size=cfg.patch_size, width=cfg.width, layers=cfg.layers,
                         head_width=cfg.head_width) if cfg.image_tower == "vit" else
                    dict(image_size=resolution, layers=list(cfg.resnet_layers), width=cfg.resnet_width,
                         head_width=cfg.head_width)),
        text_cfg=dict(context_length=cfg.context_length, vocab_size=vocab_size, width=cfg.width,
                      heads=max(1, cfg.width // cfg.head_width), layers=cfg.layers),
    )


class Vocabulary:
    """The BPE ids a CLIP knows, renumbered from 2 in their original order (0 is padding, 1 every other id). SynthBench's captions use a few hundred of open_clip's 49,408 tokens: a CLIP trained on them alone needs
    only those rows of its token table (12.6 MB of the small CLIP's 16.6 MB are rows no caption ever touched).
    Order is kept because open_clip pools a caption at its largest id (the end token, which stays the largest)."""

    PAD, UNKNOWN = 0, 1  # rows 0 and 1; the known ids follow from row 2

    def __init__(self, ids):
        self.ids = sorted(set(int(i) for i in ids) - {0})  # the known BPE ids (0 is padding)
        self.table = np.full(BPE_VOCAB, self.UNKNOWN, np.int64)
        self.table[0] = self.PAD
        self.table[self.ids] = np.arange(2, len(self.ids) + 2)
        self.size = len(self.ids) + 2

    @classmethod
    def of_texts(cls, texts, context_length: int) -> "Vocabulary":
        return cls(np.unique(bpe_tokenize(texts, context_length)))

    @classmethod
    def read(cls, folder: str | Path) -> "Vocabulary | None":
        path = Path(folder) / VOCABULARY_FILE
        return cls(json.loads(path.read_text())["bpe_ids"]) if path.is_file() else None

    def write(self, folder: str | Path) -> None:
        (Path(folder) / VOCABULARY_FILE).write_text(json.dumps({"bpe_ids": self.ids}))

    def __call__(self, tokens):
        """BPE ids (numpy or a torch tensor, any shape) -> this vocabulary's ids, of the same type."""
        if isinstance(tokens, np.ndarray):
            return self.table[tokens]
        import torch

        return torch.from_numpy(self.table[tokens.numpy()])


def is_heldout_page(page_id: str, fraction: float) -> bool:
    return zlib.crc32(page_id.encode()) % 1000 < fraction * 1000


def to_tensor(images_u8: np.ndarray):
    """uint8 [N, H, W, 3] -> normalised float [N, 3, H, W], as open_clip's preprocessing does at native size."""
    import torch

    x = torch.from_numpy(images_u8).permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def build_model(cfg: ScorerConfig, resolution: int, seed: int, vocab_size: int = BPE_VOCAB):
    import open_clip
    import torch

    torch.manual_seed(seed)
    return open_clip.CLIP(**model_config(cfg, resolution, vocab_size))


def training_device() -> str:
    """Where the CLIP trains: the first CUDA GPU if torch sees one (results match a CPU run's up to float
    rounding), else the CPU."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _lr_at(step: int, cfg: ScorerConfig) -> float:
    """Linear warm-up, then cosine decay to 10% (as the JAX models)."""
    if step < cfg.warmup_steps:
        return cfg.learning_rate * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.learning_rate * (0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * t)))


def train_clip(cfg: ScorerConfig, images_u8: np.ndarray, captions: list[str], seed: int, bar=None):
    """Train the small CLIP on a fixed set of (image, caption) pairs; returns (model, [{"step", "loss"}, ...])."""
    pixels, tokens = to_tensor(images_u8), tokenize(captions, cfg.context_length)

    def batch_fn(step):
        idx = np.random.default_rng([seed, streams.CLIP_BATCHES, step]).choice(len(captions), cfg.batch_size,
                                                                 replace=len(captions) < cfg.batch_size)
        return pixels[idx], tokens[idx]

    return fit_clip(cfg, images_u8.shape[1], batch_fn, seed, bar)


def tokenize(captions: list[str], context_length: int):
    """open_clip's tokens (as `open_clip.get_tokenizer("ViT-B-32")`) as a torch LongTensor [N, context_length]."""
    import torch

    return torch.from_numpy(bpe_tokenize(captions, context_length))


def fit_clip(cfg: ScorerConfig, resolution: int, batch_fn, seed: int, bar=None, ckpt_dir: str | Path | None = None,
             stop_at: int | None = None, checkpoint_every: int = 500, vocab_size: int = BPE_VOCAB):
    """Train the small CLIP with open_clip's contrastive loss on `batch_fn(step) -> (pixels [B,3,H,W], tokens)`.

    Batches, flips and learning rates are functions of the step alone, and with `ckpt_dir` the model and optimiser
    are saved every `checkpoint_every` steps (safetensors, written atomically): a killed run resumes from the latest
    save and ends with the same weights as an uninterrupted one. `stop_at` ends early (to simulate a kill in tests).
    Returns (model in eval mode, [{"step", "loss"}, ...] of the steps run here).
    """
    import open_clip
    import torch

    device = training_device()
    model = build_model(cfg, resolution, seed, vocab_size).to(device)
    loss_fn = open_clip.ClipLoss()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0}],
                            lr=cfg.learning_rate, betas=(0.9, 0.98), eps=1e-6)
    start = _restore(ckpt_dir, model, opt) if ckpt_dir else 0
    if bar is not None and start > bar.n:  # a resumed run's bar starts where its save was (once, across segments)
        bar.update(start - bar.n)
    history = []
    model.train()
    for step in range(start, min(cfg.steps, stop_at or cfg.steps)):
        x, tokens = batch_fn(step)
        gen = torch.Generator().manual_seed(seed * 1_000_003 + step)
        flip = torch.rand(len(x), generator=gen) < 0.5  # horizontal flips: captions never say left or right
        x = torch.where(flip[:, None, None, None], x.flip(-1), x).to(device, non_blocking=True)
        tokens = tokens.to(device, non_blocking=True)
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg)
        image_features, text_features, logit_scale = model(x, tokens)
        loss = loss_fn(image_features, text_features, logit_scale)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():  # CLIP's clamp: the temperature never exceeds 100
            model.logit_scale.clamp_(0, np.log(100))
        history.append({"step": step + 1, "loss": loss.item()})
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{history[-1]['loss']:.3f}", refresh=False)
        if ckpt_dir and ((step + 1) % checkpoint_every == 0 or step + 1 == cfg.steps):
            _save(ckpt_dir, step + 1, model, opt)
    model.eval()
    return model.cpu(), history


def _save(directory, step: int, model, opt) -> None:
    """Model and AdamW state at `step` as one safetensors file, replacing the previous save atomically."""
    from safetensors.torch import save_file

    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, state in opt.state_dict()["state"].items():
        tensors.update({f"opt.{i}.{k}": v.detach().cpu().contiguous() for k, v in state.items()})
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / "state.safetensors.tmp"
    save_file(tensors, str(tmp), metadata={"step": str(step)})
    tmp.replace(directory / "state.safetensors")


def _restore(directory, model, opt) -> int:
    """The step of the latest save in `directory` (0 if none), with model and optimiser restored to it."""
    from safetensors import safe_open

    path = Path(directory) / "state.safetensors"
    if not path.is_file():
        return 0
    with safe_open(str(path), "pt") as f:
        step = int(f.metadata()["step"])
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    state = opt.state_dict()
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, i, name = key.split(".", 2)
            state["state"].setdefault(int(i), {})[name] = value
    opt.load_state_dict(state)
    return step


def retrieval_accuracy(image_emb: np.ndarray, captions: list[str], text_emb_of) -> dict:
    """Image-to-text retrieval over the distinct held-out captions (identical captions count as one).

    Returns R@1, R@5 and chance (1 / number of distinct captions); `text_emb_of(list[str]) -> [M, D]` unit rows.
    """
    distinct = sorted(set(captions))
    text = text_emb_of(distinct)
    truth = np.array([distinct.index(c) for c in captions])
    rank = np.argsort(-(image_emb @ text.T), axis=1)
    position = np.argmax(rank == truth[:, None], axis=1)
    return {"retrieval_r1": float(np.mean(position < 1)), "retrieval_r5": float(np.mean(position < 5)),
            "retrieval_chance_r1": 1.0 / len(distinct), "retrieval_captions": len(distinct),
            "retrieval_images": len(captions)}


def export_clip(model, cfg: ScorerConfig, resolution: int, directory: str | Path, meta: dict,
                vocabulary: Vocabulary | None = None) -> None:
    """Write an open_clip `local-dir` folder (config + safetensors weights + our meta, and the `vocabulary` of a CLIP
    over a subset of the BPE tokens), atomically."""
    from safetensors.torch import save_file

    directory = Path(directory)
    tmp = directory.with_name(directory.name + ".export-tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    config = {"model_cfg": model_config(cfg, resolution, vocabulary.size if vocabulary else BPE_VOCAB),
              "preprocess_cfg": {"mean": list(MEAN), "std": list(STD), "interpolation": "bicubic",
                                 "resize_mode": "shortest"}}
    (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2))
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp / WEIGHTS_FILE))
    (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True, default=float))
    if vocabulary is not None:
        vocabulary.write(tmp)
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
