"""SynthBench: a procedural world of visual subjects with exact ground truth.

- `vocab`: the words (classes, colours, patterns, materials, backgrounds, companions).
- `subjects`: identities, deterministic from (world seed, subject id).
- `scenes`: contexts (background, pose, light, companions, property changes).
- `render`: subject + scene -> uint8 image (+ coverage masks).
- `prompts`: DreamBench-style templates in three categories; `captions`: web-style captions.
"""

from suti.world.captions import describe, miss
from suti.world.prompts import CATEGORIES, PROMPTS, PromptTemplate
from suti.world.render import appearance as render_appearance
from suti.world.render import render
from suti.world.scenes import CANONICAL, Scene, sample_scene
from suti.world.subjects import Subject, make_subject, make_subjects
from suti.world.vocab import (
    BACKGROUNDS,
    CLASSES,
    COLOURS,
    COMPANIONS,
    MATERIALS,
    PATTERNS,
)

__all__ = [
    "BACKGROUNDS", "CANONICAL", "CATEGORIES", "CLASSES", "COLOURS", "COMPANIONS", "MATERIALS", "PATTERNS", "PROMPTS",
    "PromptTemplate", "Scene", "render_appearance", "Subject", "describe", "make_subject", "make_subjects", "miss", "render",
    "sample_scene",
]
