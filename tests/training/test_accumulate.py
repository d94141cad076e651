"""Gradient accumulation: M micro-batches give the big batch's gradient for BN-free models."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config, synthetic_images
from gan_jax import parallel
from gan_jax.training import accumulate
from gan_jax.training import build
from gan_jax.training import keys as keys_lib
from gan_jax.training import phases as phases_lib
from gan_jax.errors import ConfigError
from gan_jax.training.terms import Term
from gan_jax.run.trainer import train_and_evaluate

BATCH = 16


@pytest.fixture(scope="module")
def r3gan_config(tmp_path_factory):
    """configs/r3gan_fashion_mnist.py shrunk to 16 px and 8 channels, with R1 and R2 in D's
    main phase and LeCam (a carried running average): no layer mixes images in a batch."""
    path = str(tmp_path_factory.mktemp("data") / "squares16.npz")
    images, labels = synthetic_images(n=64)
    np.savez(path, images=images, labels=labels % 4)
    config = load_config("r3gan_fashion_mnist")
    config.dataset.update(source="npz", path=path, resolution=16, resize="resize")
    config.model.update(z_dim=8)
    config.model.r3gan.update(
        g_width=8, d_width=8, stage_widths=(), stage_groups=(), stage_blocks=(), embed_dim=0
    )
    config.regularizer.update(r1_every=1, r2_every=1, lecam_lambda=0.3)
    config.update(batch_size=BATCH, num_steps=2, log_every=1, sample_every=0, checkpoint_every=2)
    config.sample.update(num_images=4, standing_stats=8)
    return config


def _phase_inputs(run, state, phase, seed=0):
    config = run.config
    rng = np.random.default_rng(seed)
    real = jnp.asarray(rng.uniform(-1, 1, (BATCH, 16, 16, config.dataset.channels)), jnp.float32)
    real_y = jnp.asarray(rng.integers(0, max(config.model.num_classes, 1), BATCH), jnp.int32)
    keys = keys_lib.step_keys(run.keys["train"], state.step, config.n_critic)
    z = keys_lib.sample_noise(keys["d_z"][0], BATCH, config.model.z_dim)
    aux = {**state.aux, "lecam": {"real": jnp.float32(0.4), "fake": jnp.float32(-0.2)}}
    return phases_lib.PhaseInputs(real, real_y, z, real_y, phases_lib.phase_keys(keys, phase), aux)


@pytest.mark.parametrize(
    "network, counts",
    [
        ("d", (4,)),
        pytest.param("d", (2, 8), marks=pytest.mark.slow),
        pytest.param("g", (2, 4, 8), marks=pytest.mark.slow),
    ],
)
def test_accumulated_gradient_equals_the_big_batch(r3gan_config, network, counts):
    run = build.build(r3gan_config, parallel.create_mesh(jax.devices()[:1]))
    state = run.init_state()
    models = run.models()
    phase = next(p for p in run.phases if p.network == network and p.every == 1)
    if network == "d":
        assert {t.name for t in phase.terms} >= {"d_adv", "r1", "r2", "lecam"}
    inputs = _phase_inputs(run, state, phase)
    params = getattr(state, f"{network}_params")

    def grads(m):
        return jax.jit(lambda s: accumulate.value_and_grad(phase, models, s, inputs, params, m))(state)

    loss1, metrics1, carried1, _, grads1 = grads(1)
    scale = max(float(jnp.max(jnp.abs(g))) for g in jax.tree.leaves(grads1))
    for m in counts:
        loss, metrics, carried, _, g = grads(m)
        np.testing.assert_allclose(loss, loss1, rtol=1e-5, atol=1e-6)
        for name in metrics1:
            np.testing.assert_allclose(metrics[name], metrics1[name], rtol=1e-4, atol=1e-5, err_msg=name)
        for a, b in zip(jax.tree.leaves(g), jax.tree.leaves(grads1)):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5 * scale)
        # LeCam's anchors move by the whole batch's means, once.
        for a, b in zip(jax.tree.leaves(carried), jax.tree.leaves(carried1)):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    if network == "d":
        assert float(carried1["lecam"]["real"]) != 0.4  # it did move


def test_micro_batches_are_strided_and_their_keys_distinct():
    x = jnp.arange(12)
    inputs = phases_lib.PhaseInputs(x, x, x[:, None], x, {"aug_real": jax.random.key(3)}, {})
    parts = accumulate.split(inputs, 3)
    np.testing.assert_array_equal(parts["real"], [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]])
    assert parts["z"].shape == (3, 4, 1)
    data = np.asarray(jax.random.key_data(parts["keys"]["aug_real"]))
    assert len({row.tobytes() for row in data}) == 3


def test_carried_states_combine_by_mean_or_sum():
    phase = phases_lib.Phase(
        "D main",
        "d",
        (
            Term("avg", "d", None, carried={"a": 0.0}),
            Term("tally", "d", None, carried={"n": 0.0}, carried_reduce="sum"),
        ),
        1,
    )
    start = {"avg": {"a": jnp.float32(1.0)}, "tally": {"n": jnp.float32(10.0)}}
    # Three micro-batches from the same start: an EMA moved to 2, 4, 6; a count grew by 1, 2, 3.
    stacked = {"avg": {"a": jnp.array([2.0, 4.0, 6.0])}, "tally": {"n": jnp.array([11.0, 12.0, 13.0])}}
    out = accumulate.combine_carried(phase, start, stacked)
    assert float(out["avg"]["a"]) == pytest.approx(4.0)  # 1 + mean(1, 3, 5)
    assert float(out["tally"]["n"]) == pytest.approx(16.0)  # 10 + 1 + 2 + 3


def test_batchnorm_model_trains_with_micro_batches(tiny_config, tmp_path):
    """DCGAN (BatchNorm in both networks), 8 devices, 2 micro-batches of each device's rows."""
    tiny_config.update(microbatches=2, num_steps=2, checkpoint_every=2, sample_every=0)
    state = train_and_evaluate(tiny_config, str(tmp_path / "run"))
    assert int(state.step) == 2
    stats = jax.tree.leaves(state.d_vars["batch_stats"])
    assert all(np.all(np.isfinite(s)) for s in stats)
    assert any(np.any(s != 0) for s in stats)


def test_micro_batches_must_divide_each_devices_rows(tiny_config, tmp_path):
    tiny_config.microbatches = 3
    with pytest.raises(ConfigError, match="must divide batch_size=16"):
        train_and_evaluate(tiny_config, str(tmp_path / "a"))
    tiny_config.microbatches = 4  # divides 16, but each of the 8 devices holds 2 images
    with pytest.raises(ConfigError, match="must divide each device's 2 images"):
        train_and_evaluate(tiny_config, str(tmp_path / "b"))
