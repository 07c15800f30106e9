"""Training: optimiser, train state, step factories, the loop (progress, NaN guard, resume) and checkpoints."""
