"""Expert training speed at the default size: expert-steps per second of K LoRA experts in one batched step, beside
training the same experts one at a time (LoRA, and full fine-tuning as DreamBooth does), measured side by side.

An expert-step is one optimisation step of one expert on its own batch (instance + prior images), the same in every
column; only how the experts are laid out differs. Compile time is excluded (two warm-up steps per layout).
Run: `python bench/bench_experts.py [--experts 8] [--steps 10]`; writes bench/out/experts.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from suti import io
from suti.config import default_config, from_dict
from suti.experts import training as et
from suti.experts.config import ExpertsSection
from suti.models.lora import count_lora_params
from suti.training.base_model import BaseConfig, init_base, model_config, timing_tower


def fake_data(k: int, res: int, max_tokens: int, vocab_size: int) -> et.ExpertData:
    rng = np.random.default_rng(0)
    images = lambda n: rng.integers(0, 255, (n, res, res, 3), dtype=np.uint8)
    tokens = lambda: rng.integers(1, vocab_size, (k, max_tokens)).astype(np.int32)
    return et.ExpertData([images(8) for _ in range(k)], tokens(), [images(32) for _ in range(k)], tokens(),
                         np.arange(k) + 100)


def expert_steps_per_s(graphdef, params, data: et.ExpertData, cfg: et.ExpertConfig, diffusion, steps: int) -> float:
    """Timed expert-steps per second of `data`'s experts trained together (one group) with `cfg`."""
    g, trainable, frozen = et.expert_model(graphdef, params, cfg, data.seeds)
    make_loss = et.make_expert_loss if cfg.mode == "lora" else et.make_full_loss
    tx = et.make_expert_optimizer(cfg.train)
    step = jax.jit(et.make_expert_step(make_loss(g, cfg, diffusion, jnp.zeros(data.instance_tokens.shape[1],
                                                                              jnp.int32)), tx), donate_argnums=0)
    state = {"step": jnp.zeros((), jnp.int32), "params": trainable, "opt_state": tx.init(trainable)}
    for s in range(2):  # compile + warm-up
        state, m = step(state, frozen, et.expert_batch(data, cfg, s))
    jax.block_until_ready(m["loss"])
    start = time.perf_counter()
    for s in range(steps):
        state, m = step(state, frozen, et.expert_batch(data, cfg, s + 2))
        float(m["loss"])  # as the training loop does: read the loss every step
    return len(data) * steps / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--experts", type=int, help="experts per batched job K (default: experts.shard_size)")
    p.add_argument("--steps", type=int, default=20, help="timed steps per layout")
    p.add_argument("--blocks", nargs="+", help="override experts.lora.blocks (adapter placement)")
    p.add_argument("--targets", nargs="+", help="override experts.lora.targets")
    p.add_argument("--prior-batch", type=int, help="override experts.prior_batch (1: DreamBooth's prior preservation)")
    p.add_argument("--out", default="bench/out/experts.json")
    args = p.parse_args()
    config = default_config()
    base = from_dict(BaseConfig, config["base"])
    section = from_dict(ExpertsSection, config["experts"])
    tower = timing_tower(config)
    mcfg = model_config(base.model, config["world"]["resolution"], tower)
    tokenizer, graphdef, params = init_base(mcfg, [], 0, tower)
    args.experts = args.experts or section.shard_size
    data = fake_data(args.experts, mcfg.unet.resolution, mcfg.max_tokens, tokenizer.size)
    lora_cfg = section.expert
    if args.prior_batch is not None:
        lora_cfg = dataclasses.replace(lora_cfg, prior_batch=args.prior_batch)
    for key in ("blocks", "targets"):
        if getattr(args, key):
            adapters = dataclasses.replace(lora_cfg.lora, **{key: tuple(getattr(args, key))})
            lora_cfg = dataclasses.replace(lora_cfg, lora=adapters)
    results = {
        "lora_batched": expert_steps_per_s(graphdef, params, data, lora_cfg, base.diffusion, args.steps),
        # one at a time: the same per-expert work, K separate steps of one expert each
        "lora_one_at_a_time": expert_steps_per_s(graphdef, params, data.subset([0]), lora_cfg, base.diffusion,
                                                 args.steps * 4),
        "full_one_at_a_time": expert_steps_per_s(graphdef, params, data.subset([0]),
                                                 dataclasses.replace(lora_cfg, mode="full"), base.diffusion,
                                                 args.steps * 4),
        # the accelerator path: K whole-model copies under jax.vmap (slower than a loop on a CPU)
        "full_vmap": expert_steps_per_s(graphdef, params, data, dataclasses.replace(lora_cfg, mode="full"),
                                        base.diffusion, max(args.steps // 2, 2)),
    }
    _, factors, _ = et.expert_model(graphdef, params, lora_cfg, data.seeds[:1])
    per_expert_images = lora_cfg.instance_batch + lora_cfg.prior_batch
    print(f"K = {args.experts} experts, {per_expert_images} images per expert-step, LoRA rank {lora_cfg.lora.rank} "
          f"on {'+'.join(lora_cfg.lora.targets)} in {'+'.join(lora_cfg.lora.blocks)} blocks: "
          f"{count_lora_params(factors):,} params per expert, on {jax.devices()[0]}")
    for name, rate in results.items():
        print(f"{name:22s} {rate:7.2f} expert-steps/s")
    ratios = {
        "batched_vs_lora_one_at_a_time": results["lora_batched"] / results["lora_one_at_a_time"],
        "batched_vs_full_one_at_a_time": results["lora_batched"] / results["full_one_at_a_time"],
        "full_vmap_vs_full_one_at_a_time": results["full_vmap"] / results["full_one_at_a_time"],
    }
    for name, r in ratios.items():
        print(f"ratio {name}: {r:.2f}x")
    io.write_json({"experts": args.experts, "expert_steps_per_s": results, "ratios": ratios,
                   "lora": dataclasses.asdict(lora_cfg.lora),
                   "lora_params_per_expert": count_lora_params(factors), "device": str(jax.devices()[0])}, args.out)


if __name__ == "__main__":
    main()
