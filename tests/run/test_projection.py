"""`gan_jax.run.projection` and `gan_jax.metrics.perceptual`: the schedule and the noise
regulariser against hand and brute-force values, and a projection that recovers an image
the generator made."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import tiny_stylegan2_config, untrained_generator
from gan_jax.errors import ConfigError
from gan_jax.metrics import perceptual
from gan_jax.run import projection


def _psnr(a, b) -> float:
    return 10 * np.log10(255**2 / np.mean((a.astype(float) - b) ** 2))


def test_learning_rate_ramps_as_nvlabs():
    s = projection.Schedule()
    lr = lambda t: float(projection.learning_rate(jnp.float32(t), s))  # noqa: E731
    assert lr(0.0) == 0.0
    assert lr(0.025) == pytest.approx(0.1 * 0.5)  # half way up the ramp
    assert lr(0.5) == pytest.approx(0.1)
    assert lr(0.9) == pytest.approx(0.1 * (0.5 - 0.5 * np.cos(np.pi * 0.4)), rel=1e-5)


def _regularizer_reference(n: np.ndarray) -> float:
    total = 0.0
    while True:
        total += np.mean(n * np.roll(n, 1, axis=1)) ** 2 + np.mean(n * np.roll(n, 1, axis=0)) ** 2
        if n.shape[0] <= 8:
            return total
        n = np.array(
            [
                [n[2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean() for j in range(n.shape[1] // 2)]
                for i in range(n.shape[0] // 2)
            ]
        )


def test_noise_regularizer_against_brute_force():
    rng = np.random.default_rng(0)
    buffers = [rng.normal(size=(r, r)).astype(np.float32) for r in (4, 16, 32)]
    expected = sum(_regularizer_reference(b.astype(np.float64)) for b in buffers)
    assert float(projection.noise_regularizer([jnp.asarray(b) for b in buffers])) == pytest.approx(
        expected, rel=1e-4
    )


def test_perceptual_distances():
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 1)), jnp.float32)
    y = jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 1)), jnp.float32)
    fmnist = perceptual.make("fmnist")
    np.testing.assert_allclose(fmnist(x, x), 0.0, atol=1e-7)
    assert (fmnist(x, y) > 0).all() and fmnist(x, y).shape == (2,)
    np.testing.assert_allclose(
        perceptual.l2(x, y), np.mean((np.asarray(x) - np.asarray(y)) ** 2, axis=(1, 2, 3)), rtol=1e-6
    )
    assert np.isfinite(jax.grad(lambda x: fmnist(x, y).sum())(x)).all()
    with pytest.raises(ConfigError, match="convert_lpips"):
        perceptual.make("lpips")
    with pytest.raises(ConfigError, match="must be one of"):
        perceptual.make("ssim")
    assert (
        perceptual.lpips_size(16) == 64
        and perceptual.lpips_size(128) == 128
        and perceptual.lpips_size(1024) == 256
    )


def test_w_plus_projection_recovers_the_generators_own_image():
    gen = untrained_generator(tiny_stylegan2_config(), shift=0.0, batch_size=1)
    target = gen(seeds=[5])[0]
    start = gen(seeds=[5], psi=0.0)[0]  # the image of w̄, where the projection starts
    schedule = projection.Schedule(steps=150, w_avg_samples=1000)
    result = projection.project_w(
        gen, target, perceptual.l2, schedule, jax.random.key(0), plus=True, record_every=50
    )
    assert result.latent.shape == (6, 8) and result.frames.shape == (3, 16, 16, 1)
    assert set(result.noise) and all(
        abs(n.mean()) < 1e-5 and abs(n.std() - 1) < 1e-3 for n in result.noise.values()
    )
    assert _psnr(result.image, target) > 25 and _psnr(result.image, target) > _psnr(start, target) + 3
    assert (
        0
        <= result.distance
        < float(perceptual.l2(*(jnp.asarray(im, jnp.float32)[None] / 127.5 - 1 for im in (start, target)))[0])
    )
