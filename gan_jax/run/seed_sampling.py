"""Seeded sampling of a trained run's EMA generator: each image a function of its seed.

`load_run` reads a checkpoint's EMA generator (a `gan_jax.run.generator.TrainedGenerator`,
the class an exported file loads into too); `seed_images`, `seed_interpolation` and
`class_interpolation` sample it by seed. `gan_jax.tools.generate` is their command line.

**Seeds.** An image is a function of the checkpoint, its seed, its class and the
z truncation alone: its noise z is drawn from key(seed) (`sample.seed_noise`); the
BatchNorm statistics come from the run's standing batch (`sample.standing_batch`,
derived from the config's seed), whichever seeds are asked for; and the generator runs
in inference mode on one device in batches of a fixed ``batch_size``, the last one padded. The request order, the batch size and the
device count change no pixel (tested on CPU).

**Truncation.** ``z_truncation=t`` draws each seed's z from N(0, I) truncated to [-t, t]^d,
BigGAN's truncation trick (Brock et al. 2019, section 3.1; `sample.seed_noise` has the
density): smaller t, less variety, more typical images. Slerp between truncated points
may leave the box between them.

**StyleGAN.** ``psi=ψ`` is StyleGAN's truncation in w space, w' = w̄ + ψ (w − w̄)
with w̄ the generator's tracked mean w (Karras et al. 2019, section 3.3 and appendix B):
ψ = 1 leaves w alone, ψ = 0 gives every seed the image of w̄. ``noise_mode`` const
(default: the per-layer noise images stored with the generator) or none (zero noise).

**Classes.** For a conditional model ``class_=C`` conditions every image on class C;
without it seed s gets class s mod num_classes, so a range of seeds covers the classes
evenly. `seed_interpolation` moves z (by ``mode``) and the class weights (linearly, from
one seed's class to the next's, or fixed at ``class_``) along the path through the
seeds. `class_interpolation` keeps each seed's z and moves the class weights linearly
through the listed classes: the generator is conditioned on the mix
Σ_c w_c E[c] of its class embeddings (`gan_jax.models.layers.embed_classes`).

**Frames.** A path through K points has (K − 1)·(F − 1) + 1 frames for ``frames=F``:
F per segment, both ends included, each shared point once (`sample.interpolation_path`).
The ends are the seeds' images exactly.
"""

import dataclasses
from typing import Callable

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from gan_jax.errors import ConfigError
from gan_jax.run import exported, generator, writers
from gan_jax.run.generator import TrainedGenerator
from gan_jax.training import sample


def check_w_truncation(config: ml_collections.ConfigDict, psi: float | None, noise_mode: str | None) -> None:
    """--psi and --noise_mode are StyleGAN's; refuse them for other generators."""
    if (psi is not None or noise_mode is not None) and config.model.architecture != "stylegan2":
        raise ConfigError(
            f"--psi and --noise_mode are for StyleGAN generators (the run is "
            f"{config.model.architecture!r}); BigGAN-style z truncation is --z_truncation"
        )


def load_run(
    workdir: str,
    which: str | None = None,
    check: Callable[[ml_collections.ConfigDict], None] | None = None,
    psi: float | None = None,
    noise_mode: str | None = None,
) -> TrainedGenerator:
    """The EMA generator of checkpoint ``which`` (None: the latest; a step; 'best') of ``workdir``,
    on one device, its BatchNorm statistics computed on the run's standing batch; ``psi``
    (w-space truncation) and ``noise_mode`` are passed to a StyleGAN generator.
    ``check(config)`` runs before the weights are read, so a request fails fast."""

    def checks(config):
        check_w_truncation(config, psi, noise_mode)
        if check:
            check(config)

    gen = generator.from_checkpoint(workdir, which, checks, psi=psi, noise_mode=noise_mode)
    writers.log(f"sampling the EMA generator of {workdir} at step {gen.step}")
    return gen


def open_generator(
    workdir: str | None,
    generator_file: str | None,
    checkpoint: str | None = None,
    batch_size: int = 64,
    check: Callable[[ml_collections.ConfigDict], None] | None = None,
) -> TrainedGenerator:
    """The `TrainedGenerator` of a run's checkpoint (``workdir``, ``checkpoint``) or of an
    exported file (``generator_file``): exactly one of them. ``check(config)`` runs before
    a checkpoint's weights are read (an exported file's, after it is read and verified)."""
    if bool(workdir) == bool(generator_file):
        raise ConfigError("give either --workdir (a run) or --generator (an exported file)")
    if batch_size < 1:
        raise ConfigError(f"--batch_size={batch_size} must be positive")
    if not generator_file:
        return dataclasses.replace(load_run(workdir, checkpoint, check), batch_size=batch_size)
    if checkpoint:
        raise ConfigError("--checkpoint is for --workdir; an exported file holds one generator")
    gen = exported.load_generator(generator_file, batch_size)
    if check:
        check(gen.config)
    return gen


def check_class(config: ml_collections.ConfigDict, c: int, what: str = "--class") -> None:
    k = config.model.num_classes
    if not k:
        raise ConfigError(f"{what}={c}: the run's model is unconditional (model.num_classes=0)")
    if not 0 <= c < k:
        raise ConfigError(f"{what}={c} is out of range: the model has {k} classes, 0 to {k - 1}")


def seed_labels(config: ml_collections.ConfigDict, seeds: list[int], class_: int | None) -> np.ndarray:
    """Class of each seed's image: ``class_``, else seed mod num_classes (0 when unconditional)."""
    k = config.model.num_classes
    if class_ is not None:
        check_class(config, class_)
        return np.full(len(seeds), class_, np.int32)
    return (np.asarray(seeds, np.int64) % k).astype(np.int32) if k else np.zeros(len(seeds), np.int32)


def seed_images(
    run: TrainedGenerator,
    seeds: list[int],
    class_: int | None = None,
    z_truncation: float | None = None,
    batch_size: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """(uint8 images (N, H, W, C), labels (N,)) of the seeds."""
    labels = seed_labels(run.config, seeds, class_)
    z = sample.seed_noise(seeds, run.config.model.z_dim, z_truncation)
    return run.images(z, jnp.asarray(labels), batch_size), labels


def seed_interpolation(
    run: TrainedGenerator,
    seeds: list[int],
    frames: int,
    mode: str = "slerp",
    class_: int | None = None,
    z_truncation: float | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """(1, T, H, W, C) frames of the path through the seeds' (z, class) points."""
    interpolate = {"slerp": sample.slerp, "lerp": sample.lerp}[mode]
    z = sample.interpolation_path(
        sample.seed_noise(seeds, run.config.model.z_dim, z_truncation), frames, interpolate
    )
    k, labels = run.config.model.num_classes, seed_labels(run.config, seeds, class_)
    if k:
        labels = sample.interpolation_path(jax.nn.one_hot(labels, k), frames, sample.lerp)
    else:
        labels = jnp.zeros((len(z),), jnp.int32)
    return run.images(z, labels, batch_size)[None]


def class_interpolation(
    run: TrainedGenerator,
    seeds: list[int],
    classes: list[int],
    frames: int,
    z_truncation: float | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """(S, T, H, W, C) frames: for each seed its z, with class weights moving through ``classes``."""
    for c in classes:
        check_class(run.config, c, "--interpolate_classes")
    weights = sample.interpolation_path(
        jax.nn.one_hot(jnp.asarray(classes), run.config.model.num_classes), frames, sample.lerp
    )
    z = sample.seed_noise(seeds, run.config.model.z_dim, z_truncation)
    t = len(weights)
    images = run.images(jnp.repeat(z, t, axis=0), jnp.tile(weights, (len(seeds), 1)), batch_size)
    return images.reshape(len(seeds), t, *images.shape[1:])
