"""The train step: isolation of the updates, keys, determinism, devices, compilation."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax import parallel
from gan_jax.training import build
from gan_jax.data import pipeline as data
from gan_jax.data import sources as datasets
from gan_jax.training import keys as keys_lib


def _setup(config, devices=None):
    run = build.build(config, parallel.create_mesh(devices))
    return run, run.init_state(), datasets.load_dataset(config.dataset)


def _train(config, num_steps, devices=None, every_step=False):
    run, state, dataset = _setup(config, devices)
    step = run.train_step()
    history = []
    for batch in data.batches(dataset, config, run.mesh, 0, num_steps):
        state, metrics = step(state, batch, run.keys["train"])
        history.append(jax.device_get(metrics))
    return (state, metrics, step, history) if every_step else (state, metrics, step)


def _equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def test_step_keys_are_all_distinct():
    keys = keys_lib.step_keys(jax.random.key(0), jnp.int32(3), n_critic=3)
    flat = [k for v in keys.values() for k in (v if isinstance(v, list) else [v])]
    assert len(flat) == len(keys_lib.STEP_KEY_IDS) + len(keys_lib.PER_D_UPDATE) * (3 - 1)
    assert len({np.asarray(jax.random.key_data(k)).tobytes() for k in flat}) == len(flat)
    later = keys_lib.step_keys(jax.random.key(0), jnp.int32(4), n_critic=3)
    assert not np.array_equal(jax.random.key_data(later["g_z"]), jax.random.key_data(keys["g_z"]))


def test_d_update_never_touches_g_and_g_update_never_touches_d(tiny_config):
    from conftest import update_setup

    state, d_update, g_update, real, y, z = update_setup(tiny_config)
    after_d, _ = jax.jit(d_update)(state, real, y, z, y, jax.random.key(8))
    for field in ("g_params", "g_vars", "g_opt_state", "ema_params"):
        assert _equal(getattr(after_d, field), getattr(state, field)), field
    for field in ("d_params", "d_vars", "d_opt_state"):
        assert not _equal(getattr(after_d, field), getattr(state, field)), field

    after_g, _ = jax.jit(g_update)(state, z, y, jax.random.key(9))
    for field in ("d_params", "d_vars", "d_opt_state", "ema_params"):
        assert _equal(getattr(after_g, field), getattr(state, field)), field
    for field in ("g_params", "g_vars", "g_opt_state"):
        assert not _equal(getattr(after_g, field), getattr(state, field)), field


def test_metrics_and_step_counter(tiny_config):
    state, metrics, _ = _train(tiny_config, 2)
    assert int(state.step) == 2
    assert set(metrics) == {
        "d_loss",
        "g_loss",
        "d_adv",
        "g_adv",
        "d_real",
        "d_fake",
        "d_grad_norm",
        "g_grad_norm",
    }
    assert float(metrics["d_loss"]) == float(metrics["d_adv"])  # the only D term
    assert state.aux == {}  # no technique carries state
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_penalty_metrics_appear_when_configured(tiny_config):
    tiny_config.optimizer.d.l2 = 1e-3
    tiny_config.optimizer.g.l1 = 1e-4
    _, metrics, _ = _train(tiny_config, 1)
    assert float(metrics["d_penalty"]) > 0 and float(metrics["g_penalty"]) > 0
    np.testing.assert_allclose(
        float(metrics["d_loss"]), float(metrics["d_adv"]) + float(metrics["d_penalty"]), rtol=1e-5
    )


def test_compiled_once(tiny_config):
    _, _, step = _train(tiny_config, 4)
    assert step._cache_size() == 1


def test_same_seed_gives_bit_identical_state(tiny_config):
    a, _, _ = _train(tiny_config, 3)
    b, _, _ = _train(tiny_config, 3)
    assert _equal(a, b)
    tiny_config.seed = 1
    c, _, _ = _train(tiny_config, 3)
    assert not _equal(a.g_params, c.g_params)


def test_one_device_and_eight_devices_agree(tiny_config):
    """Sharding changes only the order of reductions, so results agree to float tolerance.

    Adam's first steps are ≈ lr·sign(g); for the many near-zero gradients that turns
    rounding differences into lr-sized ones. A large ε makes the update ≈ lr·g/ε,
    linear in g, so what is compared is the training signal itself: each leaf's total
    change over three steps, as a vector, must agree to 0.1%.
    """
    assert jax.device_count() == 8
    for side in ("g", "d"):
        tiny_config.optimizer[side].eps = 1.0
    _, init, _ = _setup(tiny_config)
    init = jax.device_get(init)
    one, m1, _ = _train(tiny_config, 3, devices=jax.devices()[:1])
    eight, m8, _ = _train(tiny_config, 3)
    for key in m1:
        np.testing.assert_allclose(float(m1[key]), float(m8[key]), rtol=1e-4, err_msg=key)
    for field in ("g_params", "d_params", "ema_params", "g_vars", "d_vars"):
        leaves = zip(*(jax.tree.leaves(getattr(s, field)) for s in (init, one, eight)))
        for x0, x1, x8 in leaves:
            d1, d8 = (np.asarray(x, np.float64) - np.asarray(x0, np.float64) for x in (x1, x8))
            assert np.linalg.norm(d1 - d8) <= 1e-3 * np.linalg.norm(d8) + 1e-9, field


def test_n_critic_uses_a_new_real_batch_per_d_update(tiny_config):
    tiny_config.n_critic = 3
    state, metrics, _ = _train(tiny_config, 2)
    assert int(state.step) == 2
    idx = data.step_indices(0, 0, 3, tiny_config.batch_size, 256)
    assert len(np.unique(idx)) == idx.size


_CONV_OPERANDS = re.compile(r"stablehlo\.convolution.*:\s*\((tensor<[^>]*>),\s*(tensor<[^>]*>)\)")
# The smallest config of each architecture that has every kind of layer it uses.
_BF16_ARCHITECTURES = {  # model.<architecture> fields
    "dcgan": {},
    "sngan": {},
    "biggan": dict(shared_dim=8, attention_res=14),
}


def _step_and_convolutions(config):
    """(run, first batch, train step lowered for the abstract state, (input, kernel) tensor
    types of every convolution in that lowered program)."""
    run = build.build(config, parallel.create_mesh())
    batch = next(iter(data.batches(datasets.load_dataset(config.dataset), config, run.mesh, 0, 1)))
    lowered = run.train_step().lower(run.abstract_state(), batch, run.keys["train"])
    text = lowered.as_text()
    convolutions = [m.groups() for m in _CONV_OPERANDS.finditer(text)]
    assert len(convolutions) == text.count("stablehlo.convolution")
    return run, batch, lowered, convolutions


@pytest.mark.parametrize(  # BigGAN's step takes a minute to compile: make test-all
    "architecture",
    [pytest.param(a, marks=pytest.mark.slow) if a == "biggan" else a for a in sorted(_BF16_ARCHITECTURES)],
)
def test_bfloat16_model_dtype_computes_every_convolution_in_bfloat16_and_keeps_float32_state(
    tiny_config, architecture
):
    """model.dtype='bfloat16': every convolution of the train step (forward and both
    gradients, G and D) takes bfloat16 operands, where with float32 none does; the step
    runs, and parameters, collections, optimizer states and losses stay float32."""
    tiny_config.model.update(architecture=architecture, num_classes=4)
    tiny_config.model[architecture].update(**_BF16_ARCHITECTURES[architecture])
    tiny_config.loss.d_loss = tiny_config.loss.g_loss = "hinge"
    *_, f32 = _step_and_convolutions(tiny_config)
    assert f32 and not any("bf16" in t for pair in f32 for t in pair)
    tiny_config.model.dtype = "bfloat16"
    run, batch, lowered, bf16 = _step_and_convolutions(tiny_config)
    assert len(bf16) == len(f32)
    assert all(t.endswith("xbf16>") for pair in bf16 for t in pair), bf16
    state, metrics = lowered.compile()(run.init_state(), batch, run.keys["train"])
    assert int(state.step) == 1
    floats = [
        x
        for x in jax.tree.leaves(
            (
                state.g_params,
                state.d_params,
                state.g_vars,
                state.d_vars,
                state.ema_params,
                state.g_opt_state,
                state.d_opt_state,
            )
        )
        if jnp.issubdtype(x.dtype, jnp.floating)
    ]
    assert floats and all(x.dtype == jnp.float32 for x in floats)
    assert all(v.dtype == np.float32 and np.isfinite(v) for v in map(np.asarray, metrics.values()))


@pytest.mark.slow  # make test-all
def test_every_loss_pair_trains(tiny_config):
    for d_loss, g_loss in [
        ("least_squares", "least_squares"),
        ("hinge", "hinge"),
        ("wasserstein", "wasserstein"),
        ("non_saturating", "least_squares"),
        ("minimax", "minimax"),
    ]:
        tiny_config.loss.d_loss, tiny_config.loss.g_loss = d_loss, g_loss
        state, metrics, _ = _train(tiny_config, 1)
        assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"])), d_loss


def test_r1_in_the_main_phase_and_gradient_penalty_train_and_report(tiny_config):
    tiny_config.regularizer.r1_gamma, tiny_config.regularizer.gp_lambda = 10.0, 10.0
    tiny_config.loss.d_loss = tiny_config.loss.g_loss = "wasserstein"
    run, _, _ = _setup(tiny_config)
    assert [(p.name, [t.name for t in p.terms], p.every) for p in run.phases] == [
        ("D main", ["d_adv", "r1", "gp"], 1),
        ("G main", ["g_adv"], 1),
    ]
    _, metrics, _ = _train(tiny_config, 2)
    assert float(metrics["d_r1"]) > 0 and float(metrics["d_gp"]) > 0
    np.testing.assert_allclose(
        float(metrics["d_loss"]),
        float(metrics["d_adv"]) + 5.0 * float(metrics["d_r1"]) + 10.0 * float(metrics["d_gp"]),
        rtol=1e-5,
    )


def test_lecam_and_diffaugment_train_and_move_their_anchors(tiny_config):
    tiny_config.regularizer.lecam_lambda, tiny_config.regularizer.lecam_decay = 0.3, 0.5
    tiny_config.augment.kind = "diffaugment"
    tiny_config.loss.d_loss = tiny_config.loss.g_loss = "hinge"
    state, metrics, _ = _train(tiny_config, 2)
    assert float(metrics["d_lecam"]) >= 0 and np.isfinite(float(metrics["d_loss"]))
    # two D updates with decay ½ from 0: α = ¼·mean₁ + ½·mean₂, so it is non-zero
    assert set(state.aux) == {"lecam"}  # ADA off: no p is carried
    assert float(state.aux["lecam"]["real"]) != 0.0 and float(state.aux["lecam"]["fake"]) != 0.0


@pytest.mark.slow  # make test-all
def test_augmentation_changes_training_but_not_when_off(tiny_config):
    plain, _, _ = _train(tiny_config, 2)
    tiny_config.augment.kind = "diffaugment"
    augmented, _, _ = _train(tiny_config, 2)
    assert not _equal(plain.d_params, augmented.d_params)
    tiny_config.augment.kind = "ada"  # p = 0 and never adjusted before step 4: exactly no augmentation
    ada_at_zero, _, _ = _train(tiny_config, 2)
    assert _equal(plain.d_params, ada_at_zero.d_params) and _equal(plain.g_params, ada_at_zero.g_params)
