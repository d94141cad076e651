"""Grids, uint8 conversion and standing statistics."""

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gan_jax.training import sample
from gan_jax.models import dcgan


def test_to_uint8_rounds_and_clips():
    np.testing.assert_array_equal(
        sample.to_uint8(np.array([-2.0, -1.0, 0.0, 1.0, 3.0])), [0, 0, 128, 255, 255]
    )


def test_grid_geometry():
    images = np.stack([np.full((4, 5, 3), i, np.uint8) for i in range(1, 8)])
    grid = sample.make_grid(images, pad=1)
    # 7 images -> 3 columns, 3 rows; each cell (4+1) x (5+1) plus the outer pad.
    assert grid.shape == (3 * 5 + 1, 3 * 6 + 1, 3)
    assert grid[1, 1, 0] == 1 and grid[1, 7, 0] == 2 and grid[6, 1, 0] == 4
    assert grid[11, 7, 0] == 0  # the 8th cell is empty
    assert sample.make_grid(images, rows=1, pad=0).shape == (4, 35, 3)


def test_save_png_roundtrip(tmp_path):
    img = np.random.default_rng(0).integers(0, 256, (6, 7, 1), dtype=np.uint8)
    sample.save_png(img, str(tmp_path / "g.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "g.png")), img[..., 0])


def test_standing_stats_are_the_batch_statistics():
    g = dcgan.Generator(resolution=28, channels=1, width=8)
    z = jax.random.normal(jax.random.key(0), (32, 100))
    variables = g.init(jax.random.key(1), z, train=False)
    params, g_vars = variables["params"], {"batch_stats": variables["batch_stats"]}
    y = jnp.zeros((32,), jnp.int32)
    stats = sample.standing_stats(g, params, g_vars, z, y)
    # With these statistics, inference mode reproduces training mode on the same batch.
    eval_out = g.apply({"params": params, **stats}, z, train=False)
    train_out, _ = g.apply({"params": params, **g_vars}, z, train=True, mutable=["batch_stats"])
    np.testing.assert_allclose(eval_out, train_out, atol=1e-5)
    images = sample.sampler_on(g, z, y)(params, g_vars, z[:4], y[:4])
    np.testing.assert_allclose(images, train_out[:4], atol=1e-5)


def test_sampler_output_depends_only_on_own_noise():
    g = dcgan.Generator(resolution=28, channels=1, width=8)
    z = jax.random.normal(jax.random.key(0), (8, 100))
    v = g.init(jax.random.key(1), z, train=False)
    y = jnp.zeros((8,), jnp.int32)
    sampler = sample.sampler_on(g, z, y)
    g_vars = {"batch_stats": v["batch_stats"]}
    a = sampler(v["params"], g_vars, z, y)
    b = sampler(v["params"], g_vars, z[3:5], y[3:5])
    np.testing.assert_allclose(a[3:5], b, atol=1e-6)
    assert float(jnp.std(a)) > 0


def test_class_grid_inputs_put_one_class_per_row_and_share_noise_down_columns():
    z = jax.random.normal(jax.random.key(0), (64, 5))
    grid_z, labels, rows = sample.class_grid_inputs(z, 10)
    assert rows == 10 and grid_z.shape == (60, 5)
    np.testing.assert_array_equal(labels, np.repeat(np.arange(10), 6))
    np.testing.assert_array_equal(grid_z[:6], grid_z[6:12])
    same_z, zeros, no_rows = sample.class_grid_inputs(z, 0)
    assert no_rows == 0 and same_z is z and not np.asarray(zeros).any()


def test_grid_with_rows_and_cols_leaves_the_extra_cells_empty():
    images = np.full((5, 3, 4, 1), 9, np.uint8)
    grid = sample.make_grid(images, rows=2, cols=4, pad=1)
    assert grid.shape == (2 * 4 + 1, 4 * 5 + 1, 1)
    assert grid[5, 1, 0] == 9  # the 5th image opens the second row
    assert not grid[5:8, 6:10].any()  # cells 6 to 8 are empty
    # rows too few for cols: the grid grows rows rather than dropping images.
    assert sample.make_grid(images, rows=1, cols=2, pad=0).shape == (9, 8, 1)


def test_standing_batch_is_the_training_samplers_batch():
    key = jax.random.key(3)
    z, y = sample.standing_batch(key, 32, 6, 5)
    _, z_key = jax.random.split(key)
    np.testing.assert_array_equal(z, jax.random.normal(z_key, (32, 6)))
    np.testing.assert_array_equal(y, jax.random.randint(jax.random.fold_in(key, 2), (32,), 0, 5))
    assert not np.asarray(sample.standing_batch(key, 8, 6, 0)[1]).any()


def test_seed_noise_rows_depend_on_their_own_seed_only():
    z = sample.seed_noise([5, 0, 2**32 - 1], 7)
    for row, seed in zip(z, [5, 0, 2**32 - 1]):
        np.testing.assert_array_equal(row, jax.random.normal(jax.random.key(seed), (7,)))
    np.testing.assert_array_equal(sample.seed_noise([0], 7)[0], z[1])


def test_truncation_bounds_z_and_is_deterministic():
    t = 0.7
    z = np.asarray(sample.seed_noise(range(1000), 32, truncation=t))
    assert np.abs(z).max() <= t and np.abs(z).max() > 0.9 * t
    # Truncated to [-t, t], the variance is 1 - 2tφ(t)/(2Φ(t) - 1) = 0.1529 at t = 0.7, not 1.
    assert abs(z.var() - 0.1529) < 0.005
    np.testing.assert_array_equal(z[:3], sample.seed_noise([0, 1, 2], 32, truncation=t))
    assert np.abs(np.asarray(sample.seed_noise(range(200), 32))).max() > 3.0


def test_lerp_by_hand():
    a, b = jnp.array([1.0, 2.0]), jnp.array([3.0, -2.0])
    np.testing.assert_allclose(sample.lerp(a, b, [0.0, 0.25, 1.0]), [[1, 2], [1.5, 1], [3, -2]])


def test_slerp_endpoints_norm_and_midpoint_angle():
    a = jnp.array([1.0, 0.0, 0.0])
    b = jnp.array([np.cos(1.2), np.sin(1.2), 0.0], jnp.float32)  # 1.2 rad from a
    path = np.asarray(sample.slerp(a, b, jnp.linspace(0.0, 1.0, 7)))
    np.testing.assert_array_equal(path[0], a)
    np.testing.assert_array_equal(path[-1], b)
    np.testing.assert_allclose(np.linalg.norm(path, axis=1), 1.0, atol=1e-6)  # on the unit sphere
    mid = path[3]  # t = 1/2: half the angle from either end
    np.testing.assert_allclose(np.arccos(mid @ np.asarray(a)), 0.6, atol=1e-5)
    np.testing.assert_allclose(np.arccos(np.clip(mid @ np.asarray(b), -1, 1)), 0.6, atol=1e-5)
    # At 90°, slerp(1/2) = (a + b)/√2 while lerp's midpoint has norm 1/√2.
    e1, e2 = jnp.eye(2)
    np.testing.assert_allclose(sample.slerp(e1, e2, [0.5])[0], [2**-0.5, 2**-0.5], atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(sample.lerp(e1, e2, [0.5])[0]), 2**-0.5, atol=1e-6)


def test_slerp_falls_back_to_lerp_for_parallel_vectors():
    a = jnp.array([1.0, -2.0, 0.5])
    t = jnp.linspace(0.0, 1.0, 5)
    for b in (3.0 * a, -a):  # parallel and anti-parallel: the arc is undefined
        out = sample.slerp(a, b, t)
        assert np.isfinite(out).all()
        np.testing.assert_array_equal(out, sample.lerp(a, b, t))


def test_interpolation_path_visits_each_point_once():
    points = jnp.array([[0.0, 0.0], [4.0, 0.0], [4.0, 8.0]])
    path = np.asarray(sample.interpolation_path(points, 5))
    assert path.shape == (2 * 4 + 1, 2)
    np.testing.assert_array_equal(path[[0, 4, 8]], points)
    np.testing.assert_allclose(path[1:4, 0], [1, 2, 3])
    np.testing.assert_allclose(path[5:8, 1], [2, 4, 6])
