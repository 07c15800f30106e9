"""Dream-SuTI: the apprentice briefly fine-tuned on one subject's demonstrations before it renders them.

The paper's Dream-SuTI trades SuTI's zero optimisation for a short DreamBooth-style tuning of the apprentice itself.
Here every step denoises the subject's own demonstrations (cycled through, `batch_size` per step) under the prompt
"a photo of a <class>", conditioned on all the demonstrations as at inference; all weights train with Adam at a small
constant rate. One compiled step serves every subject (fixed shapes), so a subject's time is its steps, not XLA.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from suti import streams
from suti.apprentice.training import make_apprentice_loss
from suti.diffusion.process import Prediction
from suti.diffusion.schedules import get_schedule
from suti.experts.config import subject_seed
from suti.experts.prompts import class_prompt
from suti.training.optim import trainable_only
from suti.training.state import create_train_state, make_train_step


class DreamSutiTuner:
    """`tune(images, demos, demo_mask, class noun, key) -> params`: an apprentice tuned on one subject."""

    def __init__(self, pipe, cfg):
        """cfg: `evaluation.config.DreamSutiConfig` (steps, batch_size, learning_rate, cond_drop)."""
        self.cfg, self.pipe = cfg, pipe
        schedule = get_schedule(pipe.diffusion_cfg.schedule, pipe.diffusion_cfg.num_steps)
        null = jnp.asarray(pipe.tokenizer.encode([""])[0])
        loss_fn = make_apprentice_loss(pipe.graphdef, schedule, Prediction(pipe.diffusion_cfg.prediction),
                                       cfg.cond_drop, null)
        self.tx = trainable_only(optax.adam(cfg.learning_rate))
        self.step = make_train_step(loss_fn, self.tx, ema_decay=0.0)  # the last weights are the tuned ones

    def batch(self, images: np.ndarray, demos: np.ndarray, demo_mask: np.ndarray, prompt_tokens: np.ndarray,
              step: int) -> dict:
        """Step `step`'s targets: the next `batch_size` demonstration images in turn, each given all of them."""
        k, b = int(demo_mask.sum()), self.cfg.batch_size
        targets = (step * b + np.arange(b)) % k
        return {"images": images[targets], "tokens": np.repeat(prompt_tokens[None], b, 0),
                "demos": np.repeat(demos[None], b, 0), "demo_mask": np.repeat(demo_mask[None], b, 0)}

    def tune(self, images, demos, demo_mask, class_noun: str, key: jax.Array):
        """Fine-tuned apprentice params for one subject: images [K, H, W, 3] in [-1, 1] at the model's resolution,
        demos and demo_mask as `ApprenticePipeline.demo_arrays` gives them."""
        prompt = self.pipe.tokenizer.encode([class_prompt(class_noun)])[0]
        # a copy: the train step donates its state, and the pipeline's own weights must survive for the next subject
        state = create_train_state(jax.tree.map(jnp.copy, self.pipe.params), self.tx)
        for step in range(self.cfg.steps):
            state, _ = self.step(state, self.batch(images, demos, demo_mask, prompt, step),
                                 jax.random.fold_in(key, step))
        return state["params"]


def dream_suti_key(seed: int, subject: str) -> jax.Array:
    """A subject's fine-tuning noise, fixed by the root seed and the subject's name."""
    return jax.random.fold_in(jax.random.key(subject_seed(seed, subject)), streams.DREAM_SUTI)
