"""Pretraining of the foundation models (CLIP, base text-to-image model, probe) on a SynthBench render stream whose
identities are disjoint from every identity an experiment can contain, and their release in `pretrained/`."""


def milestones(total: int, every: int) -> list[int]:
    """Steps at which the learning curve is read: every `every` steps, and the last step."""
    return sorted({*range(every, total, every), total}) if every > 0 else [total]
