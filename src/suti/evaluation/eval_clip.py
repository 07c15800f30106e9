"""The evaluation CLIP: the CLIP that computes the evaluation's CLIP-I and CLIP-T, and nothing else.

It is never `scoring.clip`, the CLIP that mining, the ΔCLIP filter and the apprentice's demonstration encoder read:
a model judged by the CLIP it was filtered with, or whose only view of its demonstrations is that CLIP's embedding,
would be graded on what it was trained to please. On SynthBench it is a second small CLIP released in
`pretrained/eval_clip` (rule `pretrain_eval_clip`: its own world seed, stream and vocabulary); on real data, whatever
`scoring.eval_clip` names (a pretrained open_clip model other than the filter's).
"""

from __future__ import annotations

from pathlib import Path

from suti.errors import SutiError
from suti.pretrain import release
from suti.scoring.clip import ClipScorer, ClipSpec

RELEASE_HINT = ("re-release it: snakemake results/pretrain/release-eval_clip.json --configfile config/pretrain.yaml, "
                "or name an open_clip model in scoring.eval_clip.model")


def load_eval_clip(spec: ClipSpec, released: str | Path | None, resolution: int):
    """(ClipScorer, its id) or (None, "missing: <reason>"): `spec.model` when named, else the released SynthBench
    evaluation CLIP in `released`, which must have been trained for this world (its architecture is its own: it
    loads as an open_clip folder)."""
    if spec.model:
        scorer = ClipScorer(spec.model, spec.pretrained, key="scoring.eval_clip.model")
        return scorer, scorer.id
    if not released:
        return None, f"missing: no evaluation CLIP given (pretrained/eval_clip); {RELEASE_HINT}"
    try:
        release.check_world(released, "scoring.eval_clip", resolution, RELEASE_HINT)
    except SutiError as err:
        return None, f"missing: {err}"
    scorer = ClipScorer(f"local-dir:{released}", key="scoring.eval_clip.model")
    return scorer, scorer.id
