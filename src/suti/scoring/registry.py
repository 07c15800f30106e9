"""What the installed open_clip and timm can load, and whether pretrained weights are on this machine, answered
without importing torch.

Planning checks every configured model name, and each job checks its weights before its heavy imports, so a typo
or a missing weight fails in about a second, not inside the first job that loads the model. Importing open_clip and
timm costs seconds, so their registries are read once per installed version and cached as JSON
(`$SUTI_CACHE_DIR`, default ~/.cache/suti).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from pathlib import Path

from suti.errors import SutiError
from suti.io import write_json

HF_WEIGHTS = "open_clip_pytorch_model.bin"  # open_clip's default file in a hub repo (open_clip.pretrained)
HF_SAFE_WEIGHTS = "open_clip_model.safetensors"


def _cache_file() -> Path:
    try:
        versions = "-".join(f"{p}{importlib.metadata.version(p)}" for p in ("open_clip_torch", "timm"))
    except importlib.metadata.PackageNotFoundError as err:
        raise SutiError(f"{err.name} is not installed: pip install -r requirements.txt") from None
    root = Path(os.environ.get("SUTI_CACHE_DIR") or Path.home() / ".cache" / "suti")
    return root / f"model-registry-{versions}.json"


def _weight_sources(cfg: dict) -> dict:
    """Where open_clip would read a pretrained tag's weights: hub repo + candidate files, or a URL's file name."""
    hub, url = cfg.get("hf_hub", ""), cfg.get("url", "")
    if hub:
        repo, name = os.path.split(hub)
        name = name or HF_WEIGHTS
        safe = [HF_SAFE_WEIGHTS] if name == HF_WEIGHTS else (
            [name[:-4] + ".safetensors"] if name.endswith((".bin", ".pth")) else [])
        return dict(repo=repo, files=[*safe, name])
    return dict(url_file=os.path.basename(url)) if url else {}


def _build() -> dict:
    import open_clip  # heavy (torch): imported once per installed version, then read from the JSON cache
    import timm
    from timm.models import get_pretrained_cfg

    pretrained: dict[str, dict] = {}
    for model, tag in open_clip.list_pretrained():
        pretrained.setdefault(model, {})[tag] = _weight_sources(open_clip.get_pretrained_cfg(model, tag))
    timm_hub = {}
    for name in timm.list_models(pretrained=True):
        cfg = get_pretrained_cfg(name)
        timm_hub[name] = getattr(cfg, "hf_hub_id", None) or ""
    return dict(open_clip_models=sorted(open_clip.list_models()), open_clip_pretrained=pretrained,
                timm_models=sorted(timm.list_models()), timm_pretrained=timm_hub)


def registry() -> dict:
    """The installed packages' model names and weight sources (cached; see module docstring)."""
    path = _cache_file()
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except ValueError:
            pass  # a damaged cache is rebuilt
    reg = _build()
    try:
        write_json(reg, path)
    except OSError:
        pass  # an unwritable cache only costs the next call the same seconds
    return reg


def clean_tag(tag: str) -> str:
    """A pretrained tag as open_clip looks it up (OpenAI, laion2b-s34b-b79k are openai, laion2b_s34b_b79k)."""
    return tag.lower().replace("-", "_")


def check_open_clip(model: str, pretrained: str, key: str) -> None:
    """One line naming `key` when open_clip has no such model or pretrained tag (weights are not loaded)."""
    reg = registry()
    if model not in reg["open_clip_models"]:
        raise SutiError(f"{key}: unknown open_clip model {model!r} (open_clip {importlib.metadata.version('open_clip_torch')}"
                        f" knows {len(reg['open_clip_models'])}, e.g. ViT-B-32; see open_clip.list_models())")
    tags = reg["open_clip_pretrained"].get(model, {})
    if pretrained and not Path(pretrained).is_file() and clean_tag(pretrained) not in tags:
        known = ", ".join(sorted(tags)) or "none"
        raise SutiError(f"{key}: open_clip {model!r} has no pretrained tag {pretrained!r} and no such file "
                        f"(tags: {known})")


def check_timm(model: str, key: str) -> None:
    """One line naming `key` when timm knows neither the architecture nor the tagged name."""
    reg = registry()
    if model not in reg["timm_pretrained"] and model.split(".")[0] not in reg["timm_models"]:
        raise SutiError(f"{key}: unknown timm model {model!r} (see timm.list_models())")


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() not in ("", "0", "false", "no")


def _in_hub_cache(repo: str, files: list[str]) -> bool:
    from huggingface_hub import try_to_load_from_cache  # light; only for hub-hosted weights

    return any(isinstance(try_to_load_from_cache(repo, name), str) for name in files)


def open_clip_weights_present(model: str, pretrained: str) -> bool:
    """Are the weights of (model, pretrained) on this machine: a file, or open_clip's hub or URL cache?"""
    if not pretrained or Path(pretrained).is_file():
        return True
    source = registry()["open_clip_pretrained"].get(model, {}).get(clean_tag(pretrained), {})
    if "repo" in source and _in_hub_cache(source["repo"], source["files"]):
        return True
    url_file = source.get("url_file")
    return bool(url_file) and (Path.home() / ".cache" / "clip" / url_file).is_file()


def missing_weights_message(model: str, pretrained: str, key: str = "scoring.clip.model") -> str:
    """One line: which weights are missing (named by the config key that asked for them) and how to provide them."""
    local = ("set scoring.clip.pretrained to a local checkpoint file" if key == "scoring.clip.model"
             else f"set {key} to a local open_clip folder")
    return (f"{key}: no weights for open_clip {model!r} pretrained={pretrained!r} on this machine "
            f"(HF_HUB_OFFLINE=1); on a connected machine run `python -c \"import open_clip; open_clip.create_model("
            f"'{model}', pretrained='{pretrained}')\"` and copy ~/.cache/huggingface here, or {local}")


def timm_weights_present(model: str) -> bool | None:
    """Are a timm model's hub weights in the Hugging Face cache? None when timm would fetch them from a URL instead
    (not known here)."""
    repo = registry()["timm_pretrained"].get(model) or ""
    return _in_hub_cache(repo, ["model.safetensors", "pytorch_model.bin"]) if repo else None


def require_open_clip_weights(model: str, pretrained: str, key: str) -> None:
    """Offline (HF_HUB_OFFLINE=1, the pipeline's default) and absent: one line saying how to provide them."""
    check_open_clip(model, pretrained, key)
    if offline() and not open_clip_weights_present(model, pretrained):
        raise SutiError(missing_weights_message(model, pretrained, key))


def is_folder(model: str) -> bool:
    """Does `scoring.clip.model` name a local open_clip folder ("local-dir:PATH" or a directory), not a registry model?"""
    return model.startswith("local-dir:") or Path(model).is_dir()


def is_registry_name(source: str) -> bool:
    """Does a model source name an open_clip registry model ("MODEL:PRETRAINED") rather than a folder?"""
    return not source.startswith("local-dir:") and ":" in source and not Path(source).is_dir()


def open_clip_models(config: dict) -> list[tuple[str, str, str]]:
    """(model, pretrained tag, config key) of every open_clip registry model a run loads: scoring.clip.model and
    scoring.eval_clip.model unless folders, and base.text_tower when a base model is trained in the run. Works on
    partial sections (a stage's --params) as on a whole config."""
    clip = config.get("scoring", {}).get("clip", {})
    eval_clip = config.get("scoring", {}).get("eval_clip", {})
    base = config.get("base", {})
    tower = base.get("text_tower", "")
    trains_base = base.get("init") == "scratch" and base.get("model", {}).get("text_encoder") == "clip"
    models = []
    if clip.get("model") and not is_folder(clip["model"]):
        models.append((clip["model"], clip.get("pretrained", ""), "scoring.clip.model"))
    if eval_clip.get("model") and not is_folder(eval_clip["model"]):
        models.append((eval_clip["model"], eval_clip.get("pretrained", ""), "scoring.eval_clip.model"))
    if trains_base and tower and is_registry_name(tower):
        models.append((*tower.split(":", 1), "base.text_tower"))
    return models
