"""Guidance distillation (Meng et al., CVPR 2023, stage one): an apprentice that renders in one network pass per
sampler step what its teacher renders with classifier-free guidance in two.

The student starts as a copy of the trained apprentice (the teacher, frozen) and learns to output, for the same noisy
image, timestep, prompt and demonstrations, the teacher's guided output

    teacher(x_t | null) + w * (teacher(x_t | prompt, demonstrations) - teacher(x_t | null)),

on the teacher's own training targets noised by q(x_t | x_0) (the MSE of Meng et al., Min-SNR weighted like every loss
here). Rendering then skips the null half of every batch: the apprentice's per-subject time halves, which is what
SuTI's speed rests on (rendering is the whole of its cost). DreamBooth cannot take the same shortcut for free: each of
its experts would need a distillation of its own, paid per subject.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from suti.apprentice.model import guided_apprentice
from suti.diffusion.losses import min_snr_weight, sample_t_noise
from suti.diffusion.process import Prediction, q_sample
from suti.diffusion.schedules import Schedule


def make_distill_loss(guidance: float):
    """A `fit_denoiser` loss factory: loss_fn(params, batch, rng) for apprentice batches that also carry the frozen
    teacher's parameters under "teacher" (an input, not a constant baked into the compiled step)."""

    def make(graphdef, schedule: Schedule, prediction: Prediction, cond_drop: float, null_tokens,
             min_snr_gamma: float = 0.0):
        del cond_drop  # the student only ever renders conditioned: nothing to drop

        def loss_fn(params, batch, rng):
            student, teacher = nnx.merge(graphdef, params), nnx.merge(graphdef, batch["teacher"])
            x0, tokens, demos, mask = batch["images"], batch["tokens"], batch["demos"], batch["demo_mask"]
            t, noise = sample_t_noise(rng, x0.shape, schedule.num_steps, x0.dtype)
            x_t = q_sample(schedule, x0, t, noise)
            null = jnp.broadcast_to(null_tokens, tokens.shape)
            aim = guided_apprentice(teacher, tokens, demos, mask, null, guidance)(x_t, t)
            out = student(x_t, t, student.condition(tokens, demos, mask))
            per = jnp.mean((out - jax.lax.stop_gradient(aim)) ** 2, axis=(1, 2, 3))
            return jnp.mean(per * min_snr_weight(schedule, t, prediction, min_snr_gamma)), {}

        return loss_fn

    return make
