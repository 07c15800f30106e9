"""Pretraining of the foundation models (CLIP, base text-to-image model, probe) on a SynthBench render stream whose
identities are disjoint from every identity an experiment can contain, and their release in `pretrained/`."""
