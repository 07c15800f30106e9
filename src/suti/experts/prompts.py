"""DreamBooth's two prompts, written once: the class prompt (prior preservation, and a demonstration's default
caption) and the instance prompt (the subject under its rare identifier)."""

from __future__ import annotations


def class_prompt(cls: str) -> str:
    return f"a photo of a {cls}"


def instance_prompt(identifier: str, cls: str) -> str:
    return f"a photo of {identifier} {cls}"
