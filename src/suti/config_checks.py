"""Checks across config sections that the schema cannot express, run at planning before any job.

Each failure is one line naming the key, as schema errors are (`suti.config`). The model-name checks read the
installed open_clip and timm registries without loading weights (`suti.scoring.registry`); the release checks read
the provenance of the released models the config loads (`suti.pretrain.release`).
"""

from __future__ import annotations

import collections
import json
import os
from pathlib import Path

from suti.config import ConfigError
from suti.data import ingest
from suti.errors import SutiError
from suti.mining.clusters import n_heldout
from suti.pretrain import release
from suti.scoring import registry
from suti.scoring.metrics import tau_name


def check(config: dict, models: bool = True, releases: str | Path | None = "pretrained") -> None:
    """Every check below on a validated config (defaults filled); ConfigError on the first failure. `releases`: the
    folder of the released models (relative to the working directory, as the workflow's inputs are); None skips
    them."""
    check_taus(config)
    check_demos(config)
    check_expert_subjects(config)
    check_attention_sides(config)
    if models:
        check_models(config)
    check_apprentice_init(config)
    if releases is not None:
        check_releases(config, releases)


def _duplicates(values) -> list[str]:
    return sorted(name for name, n in collections.Counter(map(tau_name, values)).items() if n > 1)


def check_taus(config: dict) -> None:
    """No tau twice (0.1 and 0.10 are one training set), and every apprentice tau is one the filter makes."""
    for key, values in (("filter.taus", config["filter"]["taus"]), ("apprentice.taus", config["apprentice"]["taus"])):
        if _duplicates(values):
            raise ConfigError(f"config error: {key} = {json.dumps(values)}: {', '.join(_duplicates(values))} given "
                              f"twice", key)
    apprentice = config["apprentice"]
    made = set(map(tau_name, config["filter"]["taus"]))
    missing = {tau_name(t) for t in apprentice["taus"]} - made
    if missing:
        raise ConfigError(f"config error: apprentice.taus {sorted(missing)} are not in filter.taus", "apprentice.taus")
    if tau_name(apprentice["main_tau"]) not in map(tau_name, apprentice["taus"]):
        raise ConfigError("config error: apprentice.main_tau must be one of apprentice.taus", "apprentice.main_tau")


def check_demos(config: dict) -> None:
    """Demonstration counts the apprentice can take (it has apprentice.max_demos slots)."""
    apprentice = config["apprentice"]
    most = apprentice["max_demos"]
    for key in ("demos", "demo_ablation"):
        values = apprentice[key] if isinstance(apprentice[key], list) else [apprentice[key]]
        if max(values, default=0) > most:
            raise ConfigError(f"config error: apprentice.{key} = {apprentice[key]}: the apprentice takes at most "
                              f"apprentice.max_demos = {most} demonstrations", f"apprentice.{key}")


def check_apprentice_init(config: dict) -> None:
    """The released apprentice continues the released base model and reads demonstrations with the released CLIP:
    apprentice.init pretrained needs both in the run, as the small CLIP that scoring.clip names."""
    if config["apprentice"]["init"] != "pretrained":
        return
    needs = [("base.init", config["base"]["init"] == "pretrained"),
             ("scorer.init", config["scorer"]["init"] == "pretrained"),
             ("scoring.clip.model", not config["scoring"]["clip"]["model"])]
    wrong = [key for key, ok in needs if not ok]
    if wrong:
        raise ConfigError(f"config error: apprentice.init = pretrained continues the released base model and reads "
                          f"demonstrations with the released small CLIP, which {', '.join(wrong)} replace here; set "
                          "apprentice.init: scratch", "apprentice.init")


def corpus_pages(corpus: dict) -> tuple[int, str] | None:
    """How many pages the corpus has at most, and whence; None when a real corpus cannot be read at planning (its
    build_corpus job reports why)."""
    if corpus["source"] == "synthbench":
        return corpus["n_pages"], "corpus.n_pages"
    path = Path(corpus["path"])
    try:
        if corpus["source"] == "folder":
            entries = list(os.scandir(path))
            pages = sum(e.is_dir() for e in entries) + any(e.is_file() for e in entries)
        else:
            pages = len({ingest.manifest_page(entry, path) for entry in ingest.read_manifest(path).to_pylist()})
    except (OSError, SutiError):
        return None
    return pages, f"pages in {path}"


def check_expert_subjects(config: dict) -> None:
    """experts.subjects no more than the mined training split can hold: one subject per page at most, less the
    pages mining holds out."""
    found = corpus_pages(config["corpus"])
    if found is None:
        return
    pages, source = found
    fraction = config["mining"]["heldout_fraction"]
    most = pages - n_heldout(pages, fraction)
    wanted = config["experts"]["subjects"]
    if wanted > most:
        raise ConfigError(f"config error: experts.subjects = {wanted}: the corpus gives at most {most} training "
                          f"subjects ({pages} {source}, less mining.heldout_fraction = {fraction})", "experts.subjects")


def check_models(config: dict) -> None:
    """Configured open_clip and timm names exist in the installed packages; an open_clip model's weights are on this
    machine when the hub is offline (the pipeline's default), else its first job would fail."""
    try:
        for model, pretrained, key in registry.open_clip_models(config):
            registry.require_open_clip_weights(model, pretrained, key)
        key = "scoring.dino.model"
        registry.check_timm(config["scoring"]["dino"]["model"], key)
    except SutiError as err:
        raise ConfigError(f"config error: {err}", key) from None


def unet_sides(config: dict) -> list[int]:
    """The sides, in cells, of the base UNet's levels: world.resolution / patch_size, halved at each further level."""
    unet = config["base"]["model"]["unet"]
    side = config["world"]["resolution"] // unet["patch_size"]
    return [side >> level for level in range(len(unet["channel_mult"]))]


def check_attention_sides(config: dict) -> None:
    """Attention is placed by the side of a level's feature map: a side no level has would add no attention at all,
    silently (at 128 px the default's [8, 4] would leave a patch-2 UNet of 64 / 32 / 16 cells without text
    cross-attention outside its middle block)."""
    unet, sides = config["base"]["model"]["unet"], unet_sides(config)
    placed = (("base.model.unet.attention_resolutions", unet["attention_resolutions"]),
              ("base.model.unet.cross_attention_resolutions", unet["cross_attention_resolutions"]),
              ("apprentice.cross_attention_resolutions", config["apprentice"]["cross_attention_resolutions"]))
    if config["apprentice"]["demo_path"] != "clip":
        placed += (("apprentice.map_resolutions", config["apprentice"]["map_resolutions"]),)
    for key, wanted in placed:
        missing = sorted(set(wanted) - set(sides))
        if missing:
            raise ConfigError(f"config error: {key} = {list(wanted)}: no UNet level is {missing} cells wide (levels "
                              f"{sides} at world.resolution {config['world']['resolution']}, patch_size "
                              f"{unet['patch_size']}, {len(unet['channel_mult'])} levels)", key)
    key_side = config["apprentice"]["map_key_side"]
    if config["apprentice"]["demo_path"] != "clip" and key_side:
        uneven = [s for s in config["apprentice"]["map_resolutions"] if s > key_side and s % key_side]
        if uneven:
            raise ConfigError(f"config error: apprentice.map_key_side = {key_side} does not divide the map sides "
                              f"{uneven} it pools", "apprentice.map_key_side")


def check_releases(config: dict, folder: str | Path = "pretrained") -> None:
    """Every released model the config loads (`<section>.init: pretrained`) was trained for this world and these
    sizes; otherwise the first job that loads it would fail (`release.check` names what differs)."""
    for name, (section, architecture) in release.RELEASES.items():
        if config[section]["init"] != "pretrained":
            continue
        key = f"{section}.init"
        try:
            release.check(Path(folder) / name, key, architecture(config), section, config["world"]["resolution"])
        except SutiError as err:
            raise ConfigError(f"config error: {err}", key) from None
