"""Tiny non-square runs end to end (aspect 4:3 at 16 px: 12 × 16 images): R3GAN trained and
sampled by generate, a walk and the explorer; StyleGAN2 (slow) trained, resumed, and
sampled in W, by the explorer and by projection; every output 12 × 16."""

import jax
import numpy as np
import pytest

from conftest import load_config, tiny_stylegan2_config
from gan_jax.metrics import perceptual
from gan_jax.run import explorer, generator, projection, walks
from gan_jax.run.trainer import train_and_evaluate
from gan_jax.tools import generate


def _train(config, workdir, steps=2):
    config.dataset.update(source="synthetic", max_examples=64, aspect="4:3")
    config.update(batch_size=8, num_steps=steps, log_every=1, sample_every=0, checkpoint_every=2)
    config.sample.update(num_images=4, standing_stats=8)
    return train_and_evaluate(config, workdir)


def _r3gan():
    config = load_config("r3gan_fashion_mnist")
    config.dataset.resolution = 16
    config.model.r3gan.update(stage_widths=(16, 16, 16), stage_blocks=(1, 1, 1), stage_groups=(4, 4, 4))
    return config


def _stylegan2():
    config = tiny_stylegan2_config()
    config.model.stylegan2.mbstd_group = 2
    return config


def _check_sampling(workdir, tmp_path):
    gen = generator.from_checkpoint(workdir, batch_size=2)
    assert gen.image_shape == (12, 16, 1) and gen(seeds=[0, 1, 2]).shape == (3, 12, 16, 1)
    out = tmp_path / "s.npz"
    generate.generate(workdir, seeds="0-3", npz=str(out), run=gen)
    assert np.load(out)["images"].shape == (4, 12, 16, 1)
    assert walks.seed_walk(gen, [0, 1], 3).shape == (3, 12, 16, 1)
    assert explorer.info(gen, "x")["height"] == 12 and explorer.info(gen, "x")["width"] == 16
    assert explorer.image_png(gen, explorer.Request(seed=3)) == explorer._png(gen(seeds=[3])[0], 1)
    return gen


@pytest.mark.slow  # the shapes are checked per network in tests/models; this is the whole run
def test_r3gan_trains_and_samples_12_by_16(tmp_path):
    workdir = str(tmp_path / "r3")
    _train(_r3gan(), workdir)
    _check_sampling(workdir, tmp_path)


@pytest.mark.slow  # make test-all: StyleGAN2's training step compiles for minutes here
def test_stylegan2_trains_resumes_and_projects_12_by_16(tmp_path):
    workdir = str(tmp_path / "sg")
    _train(_stylegan2(), workdir)
    gen = _check_sampling(workdir, tmp_path)
    result = projection.project_w(
        gen,
        gen(seeds=[2])[0],
        perceptual.l2,
        projection.Schedule(steps=3, w_avg_samples=16),
        jax.random.key(0),
    )
    assert result.image.shape == (12, 16, 1) and all(n.shape[0] < n.shape[1] for n in result.noise.values())
    assert int(_train(_stylegan2(), workdir, steps=3).step) == 3  # resumed from step 2
