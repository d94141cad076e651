"""``ops``: how backend-specific operations compute. Every choice computes the same function
(`gan_jax.ops`, each op's equality tested), so these fields are never part of a run's identity.

ops.conv_transpose     DCGAN's 4×4 stride-2 up-convolution: 'native' | 'adjoint' | 'subpixel' |
                       'auto' (`gan_jax.ops.policy` decides from the run's devices)
ops.conv_batch_slices  batch slices per 4×4 stride-2 convolution (0: by layer size)
ops.conv_weight_grad   their weight gradients: 'conv' | 'taps' | 'auto'
ops.fused_modconv      StyleGAN2's modulated convolutions: 'fused' | 'nonfused' | 'auto'
"""

import ml_collections

from gan_jax.errors import ConfigError
from gan_jax.ops import conv4x4


def section() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            conv_transpose="auto",  # dcgan: 'native' | 'adjoint' | 'subpixel' | 'auto' (adjoint on CPU)
            conv_batch_slices=0,  # dcgan: batch slices per 4x4 stride-2 conv; 0: by layer size
            conv_weight_grad="auto",  # dcgan: 'conv' | 'taps' | 'auto' (taps on CPU for <= 4 channels)
            fused_modconv="auto",  # stylegan2: 'fused' | 'nonfused' | 'auto'
        )
    )


FIELDS = tuple(section().keys())


def check(config: ml_collections.ConfigDict) -> None:
    """Raises `ConfigError` for an ops field that names no form."""
    ops = config.ops
    for field, forms in (
        ("conv_transpose", ("auto", *conv4x4.TRANSPOSE_FORMS)),
        ("conv_weight_grad", conv4x4.WEIGHT_GRADS),
        ("fused_modconv", ("auto", "fused", "nonfused")),
    ):
        if ops[field] not in forms:
            raise ConfigError(f"ops.{field}={ops[field]!r} must be one of {', '.join(forms)}")
    if ops.conv_batch_slices < 0:
        raise ConfigError(f"ops.conv_batch_slices={ops.conv_batch_slices} must be >= 0 (0: by layer size)")
