"""Copying: does a generation show its demonstrations' scene instead of the prompted one, or their pixels instead of
the subject?

Per SynthBench image (recontextualisation and accessorisation prompts; NaN for property prompts):
  copy_rate            1 when the probe reads the generation's background (a recontextualisation prompt) or companion
                       (an accessorisation prompt) as one of its demonstrations' and not as the prompted one
  demo_similarity_gap  the identity judge's mean cosine to the demonstrations minus that to fresh references of the
                       subject: above 0, the generation is nearer the demonstrations' pictures than the subject is
A method given no demonstrations (base, oracle) is read against the main count's, so that its copy rate is the rate
at which a method lands on a demonstration's scene without seeing it.
"""

from __future__ import annotations

import numpy as np

from suti.evaluation.protocol import SCENE_HEAD, ProbeReader
from suti.scoring.judge import IdentityJudge
from suti.scoring.probe import HEADS, make_predict, predict_batched, to_model_input
from suti.world import prompts

COPY_METRICS = ("copy_rate", "demo_similarity_gap")
_ASKED = {prompts.RECONTEXTUALIZATION: "background", prompts.ACCESSORIZATION: "companion"}


def scene_reads(probe: ProbeReader, images_u8: np.ndarray) -> dict[str, np.ndarray]:
    """{"background", "companion": [N] value names} read by the probe."""
    pred = predict_batched(make_predict(probe.graphdef), probe.params, to_model_input(images_u8))
    return {h: np.array([HEADS[h][i] for i in pred[h]]) for h in ("background", "companion")}


def copy_rate(probe: ProbeReader, images_u8: np.ndarray, rows: list[dict],
              demonstrations: dict[str, list]) -> np.ndarray:
    """[N] 0/1 (NaN where the prompt asks for no scene, or the probe cannot read the scene reliably)."""
    out = np.full(len(rows), np.nan)
    if not rows:
        return out
    by_id = {p.prompt_id: p for p in prompts.PROMPTS}
    generated = scene_reads(probe, images_u8)
    shown = {s: scene_reads(probe, np.stack(d)) for s, d in demonstrations.items() if len(d)}
    for n, row in enumerate(rows):
        head = _ASKED.get(row["category"])
        if head is None or head not in probe.reliable or row["subject"] not in shown:
            continue
        field, value = by_id[row["prompt_id"]].scene[0]
        asked = value if SCENE_HEAD[field] == head else None
        read = generated[head][n]
        out[n] = float(read != asked and read in set(shown[row["subject"]][head]))
    return out


def demo_similarity_gap(judge: IdentityJudge, images_u8: np.ndarray, rows: list[dict],
                        demonstrations: dict[str, list], references: dict) -> np.ndarray:
    """[N]: the judge's mean cosine to the image's demonstrations minus that to its subject's fresh references."""
    out = np.full(len(rows), np.nan)
    if not rows:
        return out
    emb = judge.embed_images(images_u8)
    demo_emb = {s: judge.embed_images(np.stack(d)) for s, d in demonstrations.items() if len(d)}
    for n, row in enumerate(rows):
        s = row["subject"]
        if s in demo_emb and s in references and row["category"] in _ASKED:
            out[n] = float((demo_emb[s] @ emb[n]).mean() - (references[s].embeddings @ emb[n]).mean())
    return out
