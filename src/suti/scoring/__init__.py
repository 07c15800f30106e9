"""Scorers: the SynthBench ground-truth probe (`probe`); CLIP and DINO scorers join here."""
