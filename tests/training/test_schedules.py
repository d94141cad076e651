"""Scheduled hyperparameters against hand-computed values, and Adam with a scheduled learning
rate and β₂ against plain Adam run with the same values step by step."""

import math

import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.training import schedules
from gan_jax.training import state as state_lib
from gan_jax.config import base_config
from gan_jax.errors import ConfigError
from gan_jax.config import validate


def _config(shape="cosine", kimg=0.0, num_steps=100, batch_size=10):
    c = base_config()
    c.num_steps, c.batch_size = num_steps, batch_size
    c.schedule.shape, c.schedule.kimg = shape, kimg
    return c


@pytest.mark.parametrize("step", [0, 25, 50, 75, 100, 130])
def test_cosine_over_the_whole_run(step):
    c = _config()  # N = 100 steps x 10 images
    x = min(step / 100, 1.0)
    expected = 1e-5 + (2e-4 - 1e-5) * 0.5 * (1 + math.cos(math.pi * x))
    assert float(schedules.value(c, 2e-4, 1e-5, jnp.asarray(step))) == pytest.approx(expected, rel=1e-5)


def test_linear_over_kimg():
    c = _config(shape="linear", kimg=0.5)  # N = 500 images = 50 steps of 10
    got = [float(schedules.value(c, 0.9, 0.99, jnp.asarray(t))) for t in (0, 10, 25, 50, 90)]
    np.testing.assert_allclose(got, [0.9, 0.918, 0.945, 0.99, 0.99], rtol=1e-6)


def test_unscheduled_value_is_the_start_itself():
    assert schedules.value(_config(), 0.3, None, jnp.asarray(7)) == 0.3


def _opt(**kw):
    opt = base_config().optimizer.g
    opt.update(kw)
    return opt


def test_scheduled_adam_equals_adam_with_the_same_values_each_step():
    """Adam's moments do not depend on the learning rate, and β₂ enters only its second
    moment: setting (η_t, β₂_t) before each step reproduces a hand-rolled Adam."""
    c = _config(num_steps=6, batch_size=1)
    opt = _opt(learning_rate=0.1, final_learning_rate=0.01, b2=0.9, final_b2=0.99)
    tx = state_lib.make_optimizer(opt, 1.0, state_lib.optimizer_hyperparams(c, opt))
    params = {"w": jnp.array([1.0, -2.0, 0.5])}
    grads = [{"w": jnp.array([0.3, -1.0, 2.0]) * (t + 1)} for t in range(6)]
    s = tx.init(params)
    m = v = np.zeros(3)
    ref = np.array(params["w"])
    p = params
    for t, g in enumerate(grads):
        w = 0.5 * (1 + math.cos(math.pi * t / 6))
        lr, b2 = 0.01 + (0.1 - 0.01) * w, 0.99 + (0.9 - 0.99) * w
        u, s = tx.update(g, s, p, step=jnp.asarray(t))
        p = optax.apply_updates(p, u)
        gn = np.array(g["w"], np.float64)
        m = 0.5 * m + 0.5 * gn
        v = b2 * v + (1 - b2) * gn**2
        # optax bias-corrects with the current β: 1 - β^(t+1)
        mh, vh = m / (1 - 0.5 ** (t + 1)), v / (1 - b2 ** (t + 1))
        ref = ref - lr * mh / (np.sqrt(vh) + 1e-8)
        np.testing.assert_allclose(p["w"], ref, rtol=2e-5)
        hp = schedules.current_hyperparams(s)
        assert float(hp["learning_rate"]) == pytest.approx(lr, rel=1e-5)
        assert float(hp["b2"]) == pytest.approx(b2, rel=1e-6)


def test_scheduled_adam_applies_the_lazy_scale():
    """With lazy regularization's c: learning rate × c and β₂ → β₂ᶜ on top of the schedule."""
    c = _config(num_steps=4, batch_size=1)
    opt = _opt(learning_rate=0.1, final_learning_rate=0.0, b2=0.9)
    tx = state_lib.make_optimizer(opt, 0.8, state_lib.optimizer_hyperparams(c, opt))
    params = {"w": jnp.ones(2)}
    _, s = tx.update({"w": jnp.ones(2)}, tx.init(params), params, step=jnp.asarray(2))
    hp = schedules.current_hyperparams(s)
    assert float(hp["learning_rate"]) == pytest.approx(0.05 * 0.8, rel=1e-6)  # cos(π/2): half
    assert float(hp["b2"]) == pytest.approx(0.9**0.8, rel=1e-6)


def test_constant_optimizer_is_plain_adam():
    opt = _opt(learning_rate=0.1)
    tx = state_lib.make_optimizer(opt, 1.0, state_lib.optimizer_hyperparams(_config(), opt))
    params = {"w": jnp.array([1.0, 2.0])}
    g = {"w": jnp.array([0.5, -0.5])}
    ref = optax.adam(0.1, b1=0.5, b2=0.999)
    u, s = tx.update(g, tx.init(params), params, step=jnp.asarray(3))
    u_ref, _ = ref.update(g, ref.init(params), params)
    np.testing.assert_array_equal(u["w"], u_ref["w"])
    assert schedules.current_hyperparams(s) == {}


def test_ema_half_life_follows_the_schedule():
    c = _config(num_steps=10, batch_size=100)
    c.ema.half_life_kimg, c.ema.final_half_life_kimg = 0.0, 2.0
    for t in (0, 5, 9):
        hl = 2000.0 * (1 - 0.5 * (1 + math.cos(math.pi * t / 10)))
        beta = 0.5 ** (100 / max(hl, 1e-8))
        assert float(state_lib.ema_decay(c, jnp.asarray(t))) == pytest.approx(beta, abs=1e-6)


@pytest.mark.parametrize(
    "field,value",
    [
        ("schedule.shape", "step"),
        ("schedule.kimg", -1.0),
        ("optimizer.d.final_b2", 1.0),
        ("regularizer.final_r1_gamma", -0.1),
    ],
)
def test_bad_schedules_are_refused(field, value):
    c = base_config()
    section, name = field.split(".", 1)
    if "." in name:
        sub, name = name.split(".")
        c[section][sub][name] = value
    else:
        c[section][name] = value
    with pytest.raises(ConfigError):
        validate(c)


def test_scheduled_ada_p_needs_fixed_p():
    c = base_config()
    c.augment.kind, c.augment.final_ada_p = "ada", 0.5
    with pytest.raises(ConfigError, match="ada_target=0"):
        validate(c)


def test_scheduled_run_resumes_bit_exactly_and_logs_its_rates(tiny_config, tmp_path):
    import json

    from gan_jax.run.trainer import train_and_evaluate
    from test_trainer import _equal

    tiny_config.schedule.kimg = 6 * tiny_config.batch_size / 1000  # fixed N: 6 steps
    tiny_config.optimizer.g.final_learning_rate = 0.0
    tiny_config.optimizer.d.final_b2 = 0.9
    tiny_config.regularizer.r1_gamma, tiny_config.regularizer.final_r1_gamma = 1.0, 0.1
    tiny_config.num_steps = 6
    straight = train_and_evaluate(tiny_config, str(tmp_path / "straight"))
    tiny_config.num_steps = 3
    train_and_evaluate(tiny_config, str(tmp_path / "resumed"))
    tiny_config.num_steps = 6
    resumed = train_and_evaluate(tiny_config, str(tmp_path / "resumed"))
    assert _equal(straight, resumed)
    rows = [json.loads(l) for l in open(tmp_path / "straight" / "metrics.jsonl")]
    # Logged every 2 steps: the mean rate of steps t = 2k, 2k+1 (t completed before each).
    lr = lambda t: 2e-4 * 0.5 * (1 + math.cos(math.pi * t / 6))  # noqa: E731
    np.testing.assert_allclose(
        [r["g_learning_rate"] for r in rows], [(lr(t) + lr(t + 1)) / 2 for t in (0, 2, 4)], rtol=1e-5
    )
    assert all(r["d_b2"] < 0.999 for r in rows[1:])
