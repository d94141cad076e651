"""benchmarks/time_to_quality.py: the pieces that make its two sides the same recipe.

The PyTorch side runs only where ``GAN_JAX_TORCH_PYTHON`` names a Python with torch and
gan_jax; otherwise that test is skipped with the reason.
"""

import os
import subprocess
import sys

import jax.numpy as jnp
import pytest

from conftest import REPO, load_config
from gan_jax.training import state as state_lib

BENCHMARKS = os.path.join(REPO, "benchmarks")
sys.path.insert(0, BENCHMARKS)

import time_to_quality  # noqa: E402

TORCH_PYTHON = os.environ.get("GAN_JAX_TORCH_PYTHON", "")
NO_TORCH = "GAN_JAX_TORCH_PYTHON is unset (a Python with torch runs the PyTorch side)"


@pytest.mark.parametrize("warmup", [True, False])
def test_torch_ema_decay_is_gan_jaxs(warmup):
    config = load_config("dcgan_fashion_mnist")
    config.ema.warmup = warmup
    for step in (0, 1, 9, 100, 8990, 8991, 100_000):
        expected = float(state_lib.ema_decay(config, jnp.asarray(step)))
        assert time_to_quality.ema_decay_at(config, step) == pytest.approx(expected, rel=1e-6), step


def test_recipes_that_budgets_cannot_share_are_refused():
    assert time_to_quality.recipe_problems(load_config("dcgan_fashion_mnist")) == []
    demo = load_config("demo_fashion_mnist")  # a cosine learning rate over num_steps
    for with_torch in (True, False):
        problems = time_to_quality.recipe_problems(demo, with_torch)
        assert any("scheduled over num_steps" in p for p in problems), problems
    sngan = load_config("sngan_fashion_mnist")
    assert time_to_quality.recipe_problems(sngan) and not time_to_quality.recipe_problems(sngan, False)


def test_budgets():
    assert time_to_quality.parse_budgets("20,0.1,5") == [0.1, 5.0, 20.0]
    with pytest.raises(SystemExit):
        time_to_quality.parse_budgets("0,5")


# The EMA generator's weights moved into the PyTorch peer: sampled with standing statistics
# on the run's standing batch, it must make gan_jax's images (batch statistics of the EMA
# weights, not running averages, are what both use).
_SAMPLING_PARITY = """
import jax, numpy as np, torch
import common, time_to_quality as t
from gan_jax.training import build
from gan_jax.training import sample

config = common.load_config("dcgan_fashion_mnist")
run = build.build(config)
state = run.init_state()
leaves, tree = jax.tree.flatten(state.ema_params)
ema = jax.tree.unflatten(
    tree, [x + 0.05 * jax.random.normal(jax.random.key(i), x.shape) for i, x in enumerate(leaves)]
)
np_ = lambda x: torch.from_numpy(np.array(x))
up = lambda k: np_(np.asarray(k)[::-1, ::-1].transpose(2, 3, 0, 1))  # HWIO -> torch's (I, O, H, W), flipped
weights = {
    "project.weight": np_(np.asarray(ema["project"]["kernel"]).T),
    "body.0.weight": np_(ema["BatchNorm_0"]["scale"]),
    "body.0.bias": np_(ema["BatchNorm_0"]["bias"]),
    "body.2.weight": up(ema["UpConv_0"]["kernel"]),
    "body.3.weight": np_(ema["BatchNorm_1"]["scale"]),
    "body.3.bias": np_(ema["BatchNorm_1"]["bias"]),
    "body.5.weight": up(ema["to_image"]["kernel"]),
    "body.5.bias": np_(ema["to_image"]["bias"]),
}
modules = t.import_torch()
g, _ = modules[1].make_dcgan(config)
state_dict = {**g.state_dict(), **weights}
standing_z = sample.standing_batch(run.keys["sample"], config.sample.standing_stats, config.model.z_dim, 0)[0]
ours = t.torch_generator(modules, config, state_dict, np.asarray(standing_z))
sampler = run.sampler()
theirs = t.gan_jax_generator(sampler, jax.jit(sampler.apply), ema, state.g_vars)
z = np.random.default_rng(0).normal(size=(16, config.model.z_dim)).astype(np.float32)
print(float(np.abs(ours(z) - theirs(z)).max()))
"""


@pytest.mark.skipif(not TORCH_PYTHON, reason=NO_TORCH)
def test_torch_samples_as_gan_jax_does():
    done = subprocess.run(
        [TORCH_PYTHON, "-c", _SAMPLING_PARITY], capture_output=True, text=True, cwd=BENCHMARKS, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert float(done.stdout.split()[-1]) < 1e-4
