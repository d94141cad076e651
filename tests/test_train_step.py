"""The train step: isolation of the two updates, keys, determinism, devices, compilation."""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax import data, datasets, parallel
from gan_jax import train_step as ts
from gan_jax.models import build_models
from gan_jax.state import create_state, make_optimizer
from gan_jax.train_step import root_keys


def _setup(config, devices=None):
    mesh = parallel.create_mesh(devices)
    g, d = build_models(config)
    g_tx, d_tx = make_optimizer(config.optimizer.g), make_optimizer(config.optimizer.d)
    keys = root_keys(config.seed)
    state = create_state(config, g, d, g_tx, d_tx, mesh, keys["init"])
    dataset = datasets.load_dataset(config.dataset)
    return mesh, (g, d, g_tx, d_tx), state, dataset, keys["train"]


def _train(config, num_steps, devices=None):
    mesh, models, state, dataset, key = _setup(config, devices)
    step = ts.compile_train_step(ts.make_train_step(config, *models), mesh)
    for batch in data.batches(dataset, config, mesh, 0, num_steps):
        state, metrics = step(state, batch, key)
    return state, metrics, step


def _equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def test_step_keys_are_all_distinct():
    keys = ts.step_keys(jax.random.key(0), jnp.int32(3), n_critic=3)
    flat = [keys["g_z"], keys["g_y"], keys["g_aug"], keys["dropout"], *keys["d_z"], *keys["d_y"],
            *keys["d_gp"], *keys["d_aug"]]
    assert len({np.asarray(jax.random.key_data(k)).tobytes() for k in flat}) == len(flat)
    later = ts.step_keys(jax.random.key(0), jnp.int32(4), n_critic=3)
    assert not np.array_equal(jax.random.key_data(later["g_z"]), jax.random.key_data(keys["g_z"]))


def test_d_update_never_touches_g_and_g_update_never_touches_d(tiny_config):
    mesh, models, state, dataset, _ = _setup(tiny_config)
    d_update, g_update = ts.make_updates(tiny_config, *models)
    batch = data.to_global(data.host_batch(dataset, tiny_config, 0), mesh, tiny_config.batch_size)
    real = ts.to_float_images(batch["image"])[0]
    z = ts.sample_noise(jax.random.key(7), tiny_config.batch_size, tiny_config.model.z_dim)
    y = batch["label"][0]

    after_d, _ = jax.jit(d_update)(state, real, y, z, y, jax.random.key(8), jax.random.key(9))
    for field in ("g_params", "g_vars", "g_opt_state", "ema_params"):
        assert _equal(getattr(after_d, field), getattr(state, field)), field
    for field in ("d_params", "d_vars", "d_opt_state"):
        assert not _equal(getattr(after_d, field), getattr(state, field)), field

    after_g, _ = jax.jit(g_update)(state, z, y, jax.random.key(9))
    for field in ("d_params", "d_vars", "d_opt_state"):
        assert _equal(getattr(after_g, field), getattr(state, field)), field
    for field in ("g_params", "g_vars", "g_opt_state", "ema_params"):
        assert not _equal(getattr(after_g, field), getattr(state, field)), field


def test_metrics_and_step_counter(tiny_config):
    state, metrics, _ = _train(tiny_config, 2)
    assert int(state.step) == 2
    assert set(metrics) == {"d_loss", "g_loss", "d_real", "d_fake", "d_grad_norm", "g_grad_norm"}
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_penalty_metrics_appear_when_configured(tiny_config):
    tiny_config.optimizer.d.l2 = 1e-3
    tiny_config.optimizer.g.l1 = 1e-4
    _, metrics, _ = _train(tiny_config, 1)
    assert float(metrics["d_penalty"]) > 0 and float(metrics["g_penalty"]) > 0
    np.testing.assert_allclose(float(metrics["d_loss"]),
                               float(metrics["d_adv"]) + float(metrics["d_penalty"]), rtol=1e-5)


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
    _, _, init, _, _ = _setup(tiny_config)
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


def test_bfloat16_compute_keeps_float32_params(tiny_config):
    tiny_config.model.dtype = "bfloat16"
    state, metrics, _ = _train(tiny_config, 2)
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves(state.g_params))
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_every_loss_pair_trains(tiny_config):
    for d_loss, g_loss in [("least_squares", "least_squares"), ("hinge", "hinge"),
                           ("wasserstein", "wasserstein"), ("non_saturating", "least_squares"),
                           ("minimax", "minimax")]:
        tiny_config.loss.d_loss, tiny_config.loss.g_loss = d_loss, g_loss
        state, metrics, _ = _train(tiny_config, 1)
        assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"])), d_loss


def test_r1_and_gradient_penalty_train_and_report(tiny_config):
    tiny_config.regularizer.r1_gamma, tiny_config.regularizer.r1_every = 10.0, 2
    tiny_config.regularizer.gp_lambda = 10.0
    tiny_config.loss.d_loss = tiny_config.loss.g_loss = "wasserstein"
    state, metrics, _ = _train(tiny_config, 2)  # step 1 is not an R1 step: its metric is 0
    assert float(metrics["d_r1"]) == 0.0 and float(metrics["d_gp"]) > 0
    state, metrics, _ = _train(tiny_config, 3)  # the last step (step index 2) is lazy-R1 step
    assert float(metrics["d_r1"]) > 0


def test_lecam_and_diffaugment_train_and_move_their_anchors(tiny_config):
    tiny_config.regularizer.lecam_lambda, tiny_config.regularizer.lecam_decay = 0.3, 0.5
    tiny_config.augment.kind = "diffaugment"
    tiny_config.loss.d_loss = tiny_config.loss.g_loss = "hinge"
    state, metrics, _ = _train(tiny_config, 2)
    assert float(metrics["d_lecam"]) >= 0 and np.isfinite(float(metrics["d_loss"]))
    # two D updates with decay ½ from 0: α = ¼·mean₁ + ½·mean₂, so it is non-zero
    assert float(state.scalars["lecam_real"]) != 0.0 and float(state.scalars["lecam_fake"]) != 0.0
    assert float(state.scalars["ada_p"]) == 0.0  # ADA off: p stays put


def test_augmentation_changes_training_but_not_when_off(tiny_config):
    plain, _, _ = _train(tiny_config, 2)
    tiny_config.augment.kind = "diffaugment"
    augmented, _, _ = _train(tiny_config, 2)
    assert not _equal(plain.d_params, augmented.d_params)
    tiny_config.augment.kind = "ada"  # p = 0 and never adjusted before step 4: exactly no augmentation
    ada_at_zero, _, _ = _train(tiny_config, 2)
    assert _equal(plain.d_params, ada_at_zero.d_params) and _equal(plain.g_params, ada_at_zero.g_params)
