"""FreezeD: the discriminator's first blocks, counted from the image, held fixed.

Mo et al. 2020 ("Freeze the Discriminator: a Simple Baseline for Fine-Tuning GANs")
fine-tune a pre-trained GAN on a small dataset with the lower layers of D frozen: they
hold generic image features, and only the upper layers and the classifier adapt. With
``config.freeze_d`` = k, D's phases zero the gradients and the updates of the parameters
of the first k blocks (`frozen_mask`), so those weights keep their pre-trained values
exactly while Adam still steps the rest.

A block is the unit each architecture repeats, in the order an image passes through it
(`d_blocks`):

    dcgan      Conv_i with the BatchNorm that follows it
    sngan      DBlock_i
    biggan     DBlock_i
    stylegan2  b{resolution}, highest first (the first holds the fromRGB layer)
    r3gan      stage{i}_block{j} (the first with the 1×1 'extract' layer; a stage's
               transition with its last block)

The layers after the last block (the logit, the class projection, R3GAN's basis) are
never frozen.
"""

import re
from typing import Any

import jax
import jax.numpy as jnp

from gan_jax.errors import ConfigError

PyTree = Any


def _indices(names: list[str], pattern: str) -> list[tuple[int, ...]]:
    """The sorted number groups of the names that match ``pattern`` in full."""
    matches = (re.fullmatch(pattern, n) for n in names)
    return sorted(tuple(int(g) for g in m.groups()) for m in matches if m)


def _dcgan(names: list[str]) -> list[list[str]]:
    return [
        [f"Conv_{i}"] + ([f"BatchNorm_{i - 1}"] if f"BatchNorm_{i - 1}" in names else [])
        for (i,) in _indices(names, r"Conv_(\d+)")
    ]


def _resnet(names: list[str]) -> list[list[str]]:
    return [[f"DBlock_{i}"] for (i,) in _indices(names, r"DBlock_(\d+)")]


def _stylegan2(names: list[str]) -> list[list[str]]:
    return [[f"b{r}"] for (r,) in reversed(_indices(names, r"b(\d+)"))]


def _r3gan(names: list[str]) -> list[list[str]]:
    blocks = _indices(names, r"stage(\d+)_block(\d+)")
    groups = []
    for k, (i, j) in enumerate(blocks):
        group = [f"stage{i}_block{j}"] + (["extract"] if k == 0 and "extract" in names else [])
        last_of_stage = k + 1 == len(blocks) or blocks[k + 1][0] != i
        if last_of_stage and f"stage{i}_transition" in names:
            group.append(f"stage{i}_transition")
        groups.append(group)
    return groups


_BLOCKS = {"dcgan": _dcgan, "sngan": _resnet, "biggan": _resnet, "stylegan2": _stylegan2, "r3gan": _r3gan}


def d_blocks(architecture: str, d_params: PyTree) -> list[list[str]]:
    """D's blocks from the image on, each as the names of its top-level parameter groups."""
    return _BLOCKS[architecture](list(d_params))


def frozen_mask(architecture: str, d_params: PyTree, k: int) -> PyTree:
    """A pytree like ``d_params``: True for the leaves of D's first ``k`` blocks."""
    blocks = d_blocks(architecture, d_params)
    if k > len(blocks):
        raise ConfigError(
            f"freeze_d={k} but the {architecture} discriminator has {len(blocks)} "
            f"blocks; freeze at most {len(blocks)}"
        )
    frozen = {name for block in blocks[:k] for name in block}
    return {name: jax.tree.map(lambda _, f=name in frozen: f, sub) for name, sub in d_params.items()}


def apply(tree: PyTree, mask: PyTree | None) -> PyTree:
    """``tree`` (gradients or updates) with the masked leaves set to zero."""
    if mask is None:
        return tree
    return jax.tree.map(lambda x, frozen: jnp.zeros_like(x) if frozen else x, tree, mask)
