"""Grids, uint8 conversion and standing statistics."""

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from gan_jax import sample
from gan_jax.models import dcgan


def test_to_uint8_rounds_and_clips():
    np.testing.assert_array_equal(sample.to_uint8(np.array([-2.0, -1.0, 0.0, 1.0, 3.0])),
                                  [0, 0, 128, 255, 255])


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
    images = sample.make_sampler(g)(params, g_vars, z[:4], y[:4], z, y)
    np.testing.assert_allclose(images, train_out[:4], atol=1e-5)


def test_sampler_output_depends_only_on_own_noise():
    g = dcgan.Generator(resolution=28, channels=1, width=8)
    z = jax.random.normal(jax.random.key(0), (8, 100))
    v = g.init(jax.random.key(1), z, train=False)
    sampler = sample.make_sampler(g)
    g_vars = {"batch_stats": v["batch_stats"]}
    y = jnp.zeros((8,), jnp.int32)
    a = sampler(v["params"], g_vars, z, y, z, y)
    b = sampler(v["params"], g_vars, z[3:5], y[3:5], z, y)
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
