"""Look-alikes: other SynthBench subjects of a subject's class and colour name, and the id ranges they come from.

A subject is its exact appearance (hue, saturation, value, pattern, pattern colour, frequency and angle,
proportions), not its class and colour name. Re-identifying it among its look-alikes is how the evaluation measures
identity, and how the identity judge learns it. Kept outside `suti.world` on purpose: the world's code is part of
every released model's fingerprint, and look-alikes are a use of the world, not a change to it.

Id ranges (a world subject is `(world seed, id)`): experiments use ids below `pretrain.stream.FIRST_ID` (10^9);
the pretraining stream ids from there on (training, then its held-out part). The evaluation's look-alikes and the
test subjects take ranges above both, so that no model or decision has ever seen them.
"""

from __future__ import annotations

import numpy as np

from suti import world

EVAL_LOOKALIKE_FIRST_ID = 1_950_000_000   # the evaluation's look-alikes of experiment subjects
EVAL_LOOKALIKE_SPAN = 10_000_000


def lookalikes(world_seed: int, subject: world.Subject, n: int, first_id: int, span: int) -> list[world.Subject]:
    """`n` other subjects of `subject`'s class and colour name, everything else drawn afresh: the first matches of a
    scan over ids `first_id .. first_id + span - 1` that starts at a point fixed by the subject. Same arguments,
    same look-alikes; a scan reads about 64 ids per match (8 classes x 8 colour names)."""
    start = int(np.random.default_rng([world_seed, 0x100CA1, subject.subject_id]).integers(span))
    out: list[world.Subject] = []
    for step in range(span):
        candidate = world.make_subject(world_seed, first_id + (start + step) % span)
        if (candidate.cls, candidate.colour) == (subject.cls, subject.colour) \
                and candidate.subject_id != subject.subject_id:
            out.append(candidate)
            if len(out) == n:
                return out
    raise ValueError(f"fewer than {n} look-alikes of subject {subject.subject_id} among {span} ids")


def neutral_scene(rng: np.random.Generator) -> world.Scene:
    """A reference scene: the studio, no companion, matte, no property change; pose and light still vary."""
    return world.sample_scene(rng, background="studio", companion=None, material="matte")
