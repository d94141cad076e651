"""`gan_jax.run.style_space` and `gan_jax.run.walks`: StyleGAN2's two halves equal the whole
generator, and every walk's frames are the images of the points they claim to be."""

import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config, tiny_stylegan2_config, untrained_generator
from gan_jax.errors import ConfigError
from gan_jax.run import style_space, walks
from gan_jax.training import sample

FRAMES = 5


@pytest.fixture(scope="module")
def stylegan():
    return untrained_generator(tiny_stylegan2_config(num_classes=3))


@pytest.fixture(scope="module")
def dcgan():
    config = load_config("tiny")
    config.model.num_classes = 4
    return untrained_generator(config, shift=0.0)


def test_mapping_then_synthesis_is_the_whole_generator(stylegan):
    space = style_space.of(stylegan)
    seeds = list(range(7))  # two batches of 4, the last padded
    for psi, class_ in ((1.0, None), (0.5, 2)):
        np.testing.assert_array_equal(
            space.images(space.seed_ws(seeds, class_, psi)), stylegan(seeds=seeds, psi=psi, class_=class_)
        )
    np.testing.assert_array_equal(
        space.images(space.seed_ws([3]), "none"), stylegan(seeds=[3], noise_mode="none")
    )
    assert space.seed_ws(seeds).shape == (7, space.num_ws, 8)


def test_mix_takes_the_named_layers_from_the_other(stylegan):
    space = style_space.of(stylegan)
    a, b = space.seed_ws([0]), space.seed_ws([1])
    mixed = style_space.mix(a, b, [0, 2])
    for layer in range(space.num_ws):
        np.testing.assert_array_equal(mixed[:, layer], (b if layer in (0, 2) else a)[:, layer])
    with pytest.raises(ConfigError, match="among 0 to"):
        style_space.mix(a, b, [space.num_ws])


def test_w_walk_frames_are_the_keyframes_and_the_lerp_between(stylegan):
    seeds = [4, 9, 2]
    frames = walks.seed_walk(stylegan, seeds, FRAMES)
    assert frames.shape == ((len(seeds) - 1) * (FRAMES - 1) + 1, 16, 16, 1)
    for index, seed in zip((0, FRAMES - 1, len(frames) - 1), seeds):
        np.testing.assert_array_equal(frames[index], stylegan(seeds=[seed])[0])
    space = style_space.of(stylegan)
    middle = (space.seed_ws([4]) + space.seed_ws([9])) / 2
    np.testing.assert_array_equal(frames[FRAMES // 2], space.images(middle)[0])
    looped = walks.seed_walk(stylegan, seeds, FRAMES, loop=True)
    assert len(looped) == len(seeds) * (FRAMES - 1)
    np.testing.assert_array_equal(looped[: len(frames)], frames)


def test_z_walk_ends_at_the_seeds_images_for_every_architecture(stylegan, dcgan):
    for gen in (stylegan, dcgan):
        frames = walks.seed_walk(gen, [1, 6], FRAMES, space="z")
        np.testing.assert_array_equal(frames[0], gen(seeds=[1])[0])
        np.testing.assert_array_equal(frames[-1], gen(seeds=[6])[0])
    z = dcgan.seed_inputs([1, 6])[0]
    middle = sample.slerp(z[0], z[1], jnp.asarray([0.5]))
    labels = jnp.asarray([[0, 0.5, 0.5, 0]], jnp.float32)  # seed 1's class 1 to seed 6's class 2
    np.testing.assert_array_equal(walks.seed_walk(dcgan, [1, 6], 3)[1], dcgan(z=middle, labels=labels)[0])
    assert walks.resolve_space(dcgan, "auto") == "z" and walks.resolve_space(stylegan, "auto") == "w"
    with pytest.raises(ConfigError, match="W needs a StyleGAN"):
        walks.seed_walk(dcgan, [1, 6], FRAMES, space="w")


def test_grid_of_walks_starts_at_generates_grid(stylegan):
    seeds = list(range(12))  # 2 x 3 cells, two keyframes each
    frames = walks.walk_grid(stylegan, seeds, 2, 3, FRAMES)
    assert len(frames) == FRAMES
    np.testing.assert_array_equal(frames[0], sample.make_grid(stylegan(seeds=seeds[:6]), rows=2, cols=3))
    np.testing.assert_array_equal(frames[-1], sample.make_grid(stylegan(seeds=seeds[6:]), rows=2, cols=3))
    with pytest.raises(ConfigError, match="multiple of 6 seeds"):
        walks.walk_grid(stylegan, seeds[:9], 2, 3, FRAMES)


def test_psi_sweep(stylegan):
    seeds = [0, 1, 2, 3]
    frames = walks.psi_sweep(stylegan, seeds, [1.0, 0.0], rows=2)
    np.testing.assert_array_equal(frames[0], sample.make_grid(stylegan(seeds=seeds), rows=2))
    cells = frames[1][2:18, 2:18], frames[1][2:18, 20:36], frames[1][20:36, 2:18]
    assert all(np.array_equal(cells[0], c) for c in cells[1:])  # ψ = 0: each seed is w̄'s image
    assert walks.parse_range("1:0:3", "--psi_sweep") == [1.0, 0.5, 0.0]
    assert walks.parse_range("1,0.7", "--psi_sweep") == [1.0, 0.7]
    for bad in ("1:0", "1:0:1", "a,b"):
        with pytest.raises(ConfigError, match="lo:hi:n"):
            walks.parse_range(bad, "--psi_sweep")
