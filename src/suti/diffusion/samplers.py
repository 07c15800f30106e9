"""Samplers (DDPM ancestral, DDIM, DPM-Solver++(2M)) chosen by name, and classifier-free guidance.

A sampler takes `denoise(x_t, t) -> model output` (guidance already applied), runs a fixed number of steps with
`jax.lax.scan` (static shapes: one compile per (shape, steps)), and returns x0 in [-1, 1]. Each step costs one
(guided) model call, so rendering time is proportional to `steps`; `bench/bench_sampler.py` measures quality against
steps for each sampler.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from suti.diffusion.process import Prediction, predict_eps_x0
from suti.diffusion.schedules import Schedule


def guided(model: Callable, context, null_context, scale: float) -> Callable:
    """Classifier-free guidance: out = uncond + scale * (cond - uncond), both halves from one batched call.

    Args:
      model: (x_t [B,...], t [B], context pytree with batch-leading leaves) -> output [B,...].
      context, null_context: the condition and the null condition (e.g. the empty caption), same structure.
      scale: guidance scale; at 1 the unconditional half is skipped and the output is the conditional one.
    """
    if scale == 1.0:
        return lambda x_t, t: model(x_t, t, context)
    both = jax.tree.map(lambda c, n: jnp.concatenate([c, n]), context, null_context)

    def denoise(x_t, t):
        b = x_t.shape[0]
        out = model(jnp.concatenate([x_t, x_t]), jnp.concatenate([t, t]), both)
        cond, uncond = out[:b], out[b:]
        return uncond + scale * (cond - uncond)

    return denoise


def _timesteps(schedule: Schedule, steps: int) -> jax.Array:
    """`steps` evenly spaced timesteps from T-1 down to 0."""
    return jnp.linspace(schedule.num_steps - 1, 0, steps).round().astype(jnp.int32)


def _quadratic_timesteps(schedule: Schedule, steps: int) -> jax.Array:
    """`steps` timesteps (T-1) * (1 - i / steps)^2, i = 0..steps-1: denser at low noise, where few-step solvers lose
    detail on an even grid (DDIM's "quad" spacing), none at t = 0; made strictly decreasing where rounding ties."""
    ts = np.round((schedule.num_steps - 1) * (1.0 - np.arange(steps) / steps) ** 2).astype(np.int64)
    for i in range(steps - 2, -1, -1):
        ts[i] = max(ts[i], ts[i + 1] + 1)
    return jnp.asarray(ts, jnp.int32)


def _run(schedule: Schedule, shape, rng, steps: int, update: Callable, ts: jax.Array | None = None,
         init: Callable = lambda x: x, final: Callable = lambda state: state) -> jax.Array:
    """Start from N(0, I) and apply `update(state, t, t_next, noise) -> state` over the timesteps `ts` (default: T-1
    down to 0) in one lax.scan; the last step lands on x0 (t_next = -1). The state is x_t itself unless `init(x)` makes
    it more (a multistep solver's history) and `final(state)` takes x back out.

    `rng` is one key for the batch, or one key per example ([B] keys): then each image depends on its own key only,
    whatever batch it is drawn in.
    """
    keys = rng if rng.ndim == 1 else jax.random.split(rng, shape[0])
    init_keys, step_keys = jax.vmap(jax.random.split, out_axes=1)(keys)
    normal = lambda ks: jax.vmap(lambda k: jax.random.normal(k, shape[1:]))(ks)
    ts = _timesteps(schedule, steps) if ts is None else ts
    t_next = jnp.concatenate([ts[1:], jnp.array([-1], jnp.int32)])  # -1: the step that lands on x0

    def step(state, inputs):
        t, tn, i = inputs
        noise = normal(jax.vmap(lambda k: jax.random.fold_in(k, i))(step_keys))
        return update(state, t, tn, noise), None

    state, _ = jax.lax.scan(step, init(normal(init_keys)), (ts, t_next, jnp.arange(steps)))
    return final(state)


def _alpha_next(schedule: Schedule, tn: jax.Array) -> jax.Array:
    return jnp.where(tn >= 0, schedule.alpha_bar[jnp.maximum(tn, 0)], 1.0)


def ddim_sample(denoise, schedule: Schedule, prediction: Prediction, shape, rng, steps: int = 50, eta: float = 0.0):
    """DDIM (Song et al., 2021) with x0 clipped to [-1, 1]; eta = 0 is deterministic given the initial noise."""

    def update(x, t, tn, noise):
        tb = jnp.full((shape[0],), t)
        _, x0 = predict_eps_x0(schedule, prediction, x, tb, denoise(x, tb))
        x0 = jnp.clip(x0, -1.0, 1.0)
        a, an = schedule.alpha_bar[t], _alpha_next(schedule, tn)
        # the noise the clipped x0 implies: the model's own eps belongs to the unclipped x0, and mixing the two
        # drifts off the data as steps grow (guidance pushes x0 past +-1; tests/unit/test_diffusion.py)
        eps = (x - jnp.sqrt(a) * x0) / jnp.sqrt(jnp.maximum(1 - a, 1e-12))
        sigma = eta * jnp.sqrt((1 - an) / (1 - a) * (1 - a / an))
        return jnp.sqrt(an) * x0 + jnp.sqrt(jnp.maximum(1 - an - sigma**2, 0.0)) * eps + sigma * noise

    return _run(schedule, shape, rng, steps, update)


def ddpm_sample(denoise, schedule: Schedule, prediction: Prediction, shape, rng, steps: int | None = None):
    """Ancestral sampling (Ho et al., 2020) over `steps` evenly strided timesteps (all T when None)."""

    def update(x, t, tp, noise):
        tb = jnp.full((shape[0],), t)
        _, x0 = predict_eps_x0(schedule, prediction, x, tb, denoise(x, tb))
        x0 = jnp.clip(x0, -1.0, 1.0)
        a, ap = schedule.alpha_bar[t], _alpha_next(schedule, tp)
        beta = 1 - a / ap  # the effective beta of this strided step
        mean = (jnp.sqrt(ap) * beta / (1 - a)) * x0 + (jnp.sqrt(1 - beta) * (1 - ap) / (1 - a)) * x
        var = beta * (1 - ap) / (1 - a)
        return mean + jnp.where(tp >= 0, jnp.sqrt(var), 0.0) * noise

    return _run(schedule, shape, rng, steps or schedule.num_steps, update)


def dpmpp_2m_sample(denoise, schedule: Schedule, prediction: Prediction, shape, rng, steps: int = 10):
    """DPM-Solver++(2M) (Lu et al., 2022): the probability-flow ODE solved in log-SNR with a second-order multistep
    update on the predicted x0, so few steps go far (deterministic given the initial noise, like DDIM).

    Its `steps` model calls sit on the quadratic grid from T-1 down (none at t = 0, where the image is already
    clean); the last step returns its x0 prediction, as the ODE's solution at zero noise is.
    """
    ts = _quadratic_timesteps(schedule, steps)

    def log_snr_sigma(t):
        a = jnp.where(t >= 0, schedule.alpha_bar[jnp.maximum(t, 0)], 1.0)
        return 0.5 * (jnp.log(a) - jnp.log1p(-a + 1e-12)), jnp.sqrt(jnp.maximum(1.0 - a, 0.0)), jnp.sqrt(a)

    def update(state, t, tn, _noise):
        x, prev_x0, prev_h, first = state
        tb = jnp.full((shape[0],), t)
        _, x0 = predict_eps_x0(schedule, prediction, x, tb, denoise(x, tb))
        x0 = jnp.clip(x0, -1.0, 1.0)
        lam, sigma, _ = log_snr_sigma(t)
        lam_n, sigma_n, alpha_n = log_snr_sigma(tn)
        h = lam_n - lam
        # Second order from the previous step's x0 (r = previous h / this h); first order on the first step and on
        # the last, whose h is infinite (it lands on the prediction itself).
        r = prev_h / h
        d = jnp.where(first | (tn < 0), x0, (1 + 1 / (2 * r)) * x0 - (1 / (2 * r)) * prev_x0)
        x_next = jnp.where(tn < 0, d, (sigma_n / sigma) * x - alpha_n * jnp.expm1(-h) * d)
        return x_next, x0, h, jnp.array(False)

    init = lambda x: (x, jnp.zeros_like(x), jnp.array(1.0, jnp.float32), jnp.array(True))
    return _run(schedule, shape, rng, steps, update, ts=ts, init=init, final=lambda state: state[0])


SAMPLERS = {"ddim": ddim_sample, "ddpm": ddpm_sample, "dpmpp2m": dpmpp_2m_sample}


def get_sampler(name: str) -> Callable:
    if name not in SAMPLERS:
        raise KeyError(f"unknown sampler {name!r} (known: {sorted(SAMPLERS)})")
    return SAMPLERS[name]
