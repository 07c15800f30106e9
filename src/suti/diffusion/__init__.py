"""The diffusion process, model-agnostic: schedules, forward process, losses, samplers, guidance.

A model is any callable `model(x_t, t, context) -> prediction`, with t integer timesteps in [0, T); it knows nothing
of the schedule. What the model predicts is a `Prediction` (EPSILON or V).
"""

from suti.diffusion.process import Prediction, predict_eps_x0, q_sample
from suti.diffusion.schedules import (
           Schedule,
           cosine_schedule,
           get_schedule,
           linear_schedule,
)

__all__ = ["Prediction", "Schedule", "cosine_schedule", "get_schedule", "linear_schedule", "predict_eps_x0",
           "q_sample"]
