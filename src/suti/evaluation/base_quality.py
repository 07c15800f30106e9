"""Base-model quality against ground truth: does a generated image show the prompted class, colour and background?

Prompts are caption-style ("a photo of a red mug on the beach") over (class, background) combinations, split into
combinations held out of base training and seen ones. The probe reads each generated image; accuracy is the fraction
whose probe reading matches the prompt, beside chance (1 / number of values) and the probe's reading of
ground-truth renders of the same prompts (the ceiling the probe itself allows).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from suti import streams, world
from suti.scoring.probe import HEADS, make_predict, predict_batched, to_model_input
from suti.world import prompts, vocab

ATTRIBUTES = ("class", "colour", "background")


@dataclasses.dataclass(frozen=True)
class PromptSpec:
    cls: str
    colour: str
    background: str
    heldout: bool

    @property
    def text(self) -> str:
        return prompts.scene_prompt(self.cls, self.colour, self.background)


def seen_combos(heldout: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """One seen (class, background) per class: the next background after its held-out one."""
    bgs = [b for b in vocab.BACKGROUNDS if b != "studio"]
    held = dict(heldout)
    return [(c, bgs[(bgs.index(held[c]) + 1) % len(bgs)] if c in held else bgs[i % len(bgs)])
            for i, c in enumerate(vocab.CLASSES)]


def prompt_specs(heldout: list[tuple[str, str]], colours_per_combo: int, seed: int) -> list[PromptSpec]:
    rng = np.random.default_rng([seed, streams.BASE_EVAL_PROMPTS])
    specs = []
    for combos, is_held in ((heldout, True), (seen_combos(heldout), False)):
        for cls, bg in combos:
            for colour in rng.choice(list(vocab.COLOURS), size=colours_per_combo, replace=False):
                specs.append(PromptSpec(cls, str(colour), bg, is_held))
    return specs


def sample_specs(pipe, specs: list[PromptSpec], n_per_prompt: int, seed: int, sample_cfg) -> np.ndarray:
    """uint8 images of a text-to-image pipeline, laid out spec by spec, n_per_prompt each (as `accuracy` reads)."""
    return pipe.sample([s.text for s in specs for _ in range(n_per_prompt)], seed, sample_cfg)


def heldout_images(images_u8: np.ndarray, specs: list[PromptSpec], n_per_prompt: int) -> list[np.ndarray]:
    """The images of the held-out specs, in order (the rows of the quality grid)."""
    return [images_u8[i * n_per_prompt + j] for i, s in enumerate(specs) if s.heldout for j in range(n_per_prompt)]


def oracle_renders(specs: list[PromptSpec], n_per_prompt: int, seed: int, resolution: int) -> np.ndarray:
    """Ground-truth renders of each prompt: random subjects of the class, recoloured, in the background."""
    rng = np.random.default_rng([seed, streams.BASE_EVAL_ORACLE])
    out = []
    for spec in specs:
        for _ in range(n_per_prompt):
            world_seed = int(rng.integers(1 << 30))
            candidates = (world.make_subject(world_seed, i) for i in range(64))
            subject = next(s for s in candidates if s.cls == spec.cls)
            scene = world.sample_scene(rng, background=spec.background, recolour=spec.colour, companion=None,
                                       material="matte")
            out.append(world.render(subject, scene, resolution))
    return np.stack(out)


def correct(probe_graphdef, probe_params, images_u8: np.ndarray, specs: list[PromptSpec], n_per_prompt: int):
    """{attribute: bool [len(specs), n_per_prompt]}: does the probe read the prompted value in each image (images
    laid out spec by spec, n_per_prompt each)?"""
    pred = predict_batched(make_predict(probe_graphdef), probe_params, to_model_input(images_u8))
    wanted = {a: np.array([HEADS[a].index(getattr(s, "cls" if a == "class" else a)) for s in specs])
              for a in ATTRIBUTES}
    return {a: pred[a].reshape(len(specs), n_per_prompt) == wanted[a][:, None] for a in ATTRIBUTES}


def _splits(specs: list[PromptSpec]):
    held = np.array([s.heldout for s in specs])
    return (("heldout", held), ("seen", ~held))


def split_accuracy(hits: dict, specs: list[PromptSpec]) -> dict:
    """{"heldout"|"seen": {attribute: accuracy}} of `correct`'s hits."""
    return {split: {a: float(np.mean(hits[a][mask])) for a in ATTRIBUTES} for split, mask in _splits(specs)}


def interval95(hits: dict, specs: list[PromptSpec]) -> dict:
    """{"heldout"|"seen": {attribute: half-width}} of a 95% interval on `split_accuracy`. Samples of one prompt
    share its text and so err together: the unit is the prompt (1.96 x the standard error of per-prompt means)."""
    out = {}
    for split, mask in _splits(specs):
        k = int(mask.sum())
        out[split] = {a: float(1.96 * hits[a][mask].mean(1).std(ddof=1) / np.sqrt(k)) if k > 1 else float("nan")
                      for a in ATTRIBUTES}
    return out


def accuracy(probe_graphdef, probe_params, images_u8: np.ndarray, specs: list[PromptSpec], n_per_prompt: int):
    """{"heldout"|"seen": {attribute: accuracy}} of images laid out spec by spec, n_per_prompt each."""
    return split_accuracy(correct(probe_graphdef, probe_params, images_u8, specs, n_per_prompt), specs)


def class_word_effect(pipe, sample_cfg, n_seeds: int = 8, colour: str = "red", background: str = "snow") -> float:
    """How much the class word alone changes a sample: every class prompted ("a photo of a red mug in the snow", ...)
    from the same seeds; the pixel spread across classes at a fixed seed over the spread across seeds at a fixed
    class. 0: the class word is ignored (whatever the probe reads, it did not come from the prompt); 1: it matters as
    much as the noise."""
    texts = [prompts.scene_prompt(c, colour, background) for c in vocab.CLASSES for _ in range(n_seeds)]
    seeds = np.tile(np.arange(n_seeds), len(vocab.CLASSES))
    return spread_ratio(pipe.sample_seeds(texts, seeds, sample_cfg).reshape(len(vocab.CLASSES), n_seeds, -1))


def spread_ratio(x: np.ndarray) -> float:
    """x [classes, seeds, ...]: the mean spread across classes at a fixed seed over the spread across seeds at a
    fixed class (the class word effect's statistic)."""
    x = x.astype(np.float64).reshape(x.shape[0], x.shape[1], -1)
    across_seeds = x.std(1).mean()
    return float(x.std(0).mean() / across_seeds) if across_seeds > 0 else float("nan")


def render_class_word_effect(resolution: int, n_seeds: int = 8, colour: str = "red", background: str = "snow",
                             seed: int = 0) -> float:
    """`class_word_effect`'s statistic on ground-truth renders: per seed one subject and scene, rendered as every
    class (the same hue, proportions and pose), so the value a model that draws each class's silhouette would get."""
    rng = np.random.default_rng([seed, streams.BASE_EVAL_CLASS_SWAP])
    rows = [[] for _ in vocab.CLASSES]
    for _ in range(n_seeds):
        subject = world.make_subject(int(rng.integers(1 << 30)), 0)
        scene = world.sample_scene(rng, background=background, recolour=colour, companion=None, material="matte")
        for i, cls in enumerate(vocab.CLASSES):
            rows[i].append(world.render(dataclasses.replace(subject, cls=cls), scene, resolution))
    return spread_ratio(np.array(rows))


def chance() -> dict[str, float]:
    return {"class": 1 / len(vocab.CLASSES), "colour": 1 / len(vocab.COLOURS),
            "background": 1 / (len(vocab.BACKGROUNDS) - 1)}
