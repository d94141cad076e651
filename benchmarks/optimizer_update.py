"""The optimizer and EMA work of a step, alone: Adam on G's and D's parameters plus G's EMA.

    python benchmarks/optimizer_update.py --configs dcgan_cifar10,demo_fashion_mnist

Jits one update of both networks' parameters (optax Adam with the config's settings, the
update applied, the EMA of G moved) on fixed random gradients passed in as arguments,
buffers donated as in the train step, and times it (`common.median_time` of ``--runs``
runs of 20 updates), per leaf as optax does it and with the parameters flattened into one
vector (`optax.flatten`). The bandwidth column divides the least traffic the update needs
(read g, m, v, θ and write m, v, θ for every parameter; read θ_G, EMA and write EMA for
G's) by the time.
"""

import argparse

import jax
import jax.numpy as jnp
import optax

import common
from gan_jax import parallel
from gan_jax.training import build


def time_update(tx, params, grads, decay: float, runs: int) -> float:
    def update(params, opt_state, ema, grads):
        updates, opt_state = tx.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        ema = jax.tree.map(lambda e, p: e + (1.0 - decay) * (p - e), ema, params["g"])
        return params, opt_state, ema

    step = jax.jit(update, donate_argnums=(0, 1, 2))
    params = jax.tree.map(jnp.array, params)
    holder = {"carry": (params, tx.init(params), jax.tree.map(jnp.array, params["g"]))}

    def twenty_updates():
        carry = holder["carry"]
        for _ in range(20):
            carry = step(*carry, grads)
        holder["carry"] = carry
        return carry

    return common.median_time(twenty_updates, jax.block_until_ready, warmup=1, runs=runs) / 20


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="dcgan_cifar10,demo_fashion_mnist")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    info = common.machine()
    print(f"{info['device']} x{info['device_count']} ({info['backend']}), jax {info['jax']}")
    for name in args.configs.split(","):
        config = common.load_config(name)
        state = build.build(config, parallel.create_mesh()).init_state()
        params = {"g": state.g_params, "d": state.d_params}
        leaves = jax.tree.leaves(params)
        grads = jax.tree.map(lambda p: 1e-3 * jax.random.normal(jax.random.key(1), p.shape, p.dtype), params)
        opt = config.optimizer.g
        n, n_g = sum(x.size for x in leaves), sum(x.size for x in jax.tree.leaves(params["g"]))
        traffic = 4 * (7 * n + 3 * n_g)
        for label, tx in (
            ("adam, per leaf", optax.adam(opt.learning_rate, opt.b1, opt.b2)),
            ("adam, flattened", optax.flatten(optax.adam(opt.learning_rate, opt.b1, opt.b2))),
        ):
            seconds = time_update(tx, params, grads, config.ema.decay, args.runs)
            print(
                f"{name:20s} {n:>10,} params in {len(leaves):3d} leaves  {label:16s} "
                f"{1e3 * seconds:7.2f} ms  {traffic / seconds / 1e9:6.1f} GB/s"
            )


if __name__ == "__main__":
    main()
