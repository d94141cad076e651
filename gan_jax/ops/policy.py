"""How the backend-specific operations compute: one decision, made when a run is built.

Every op of `gan_jax.ops` computes the same function in each of its forms; which form
runs is a `Policy`, resolved once from ``config.ops`` and the devices of the run's mesh
(`for_devices`), then handed to the models (`gan_jax.models.build_models`). Nothing in
`gan_jax.models` or `gan_jax.ops` asks which backend it runs on while it is traced.

``'auto'`` in ``config.ops`` resolves to the forms measured faster on the backend
(docs/benchmarks.md; the measurements behind each: benchmarks/results/history.md): on
the CPU, DCGAN's transposed convolutions through their adjoint gradients, on batch
slices sized by the layer, their few-channel weight gradients by the taps, StyleGAN2's
modulated convolutions unfused and grouped convolutions as one dense convolution per
group; elsewhere XLA's own forms, and NVlabs' fusing rule on a GPU.
"""

import dataclasses
from typing import Sequence

import jax
import ml_collections


@dataclasses.dataclass(frozen=True)
class Policy:
    """The form of each op (the defaults: the plain forms, for one device)."""

    conv_transpose: str = "native"  # DCGAN's 4×4 up-convolution: 'native' | 'adjoint' | 'subpixel'
    conv_batch_slices: int = 1  # n ≥ 1 batch slices, or 0: by layer size (`conv4x4.auto_slices`)
    conv_weight_grad: str = "conv"  # 'conv' | 'taps' | 'by_size' (`conv4x4.use_taps`)
    modconv: str = "nonfused"  # StyleGAN2: 'fused' | 'nonfused' | 'nvlabs' (fused outside training)
    grouped_conv: str = "native"  # 'native' (feature_group_count) | 'split' (a convolution per group)
    devices: int = 1  # devices the batch is sharded over: per-device sizes, the slices' layout


def for_devices(ops: ml_collections.ConfigDict, devices: Sequence[jax.Device]) -> Policy:
    """The `Policy` of ``config.ops`` on ``devices`` (a run's mesh's), 'auto' resolved."""
    platform = devices[0].platform
    cpu = platform == "cpu"

    def auto(value, on_cpu, elsewhere):
        return (on_cpu if cpu else elsewhere) if value == "auto" else value

    modconv = (
        ops.fused_modconv if ops.fused_modconv != "auto" else ("nvlabs" if platform == "gpu" else "nonfused")
    )
    return Policy(
        conv_transpose=auto(ops.conv_transpose, "adjoint", "native"),
        conv_batch_slices=ops.conv_batch_slices or (0 if cpu else 1),
        conv_weight_grad=auto(ops.conv_weight_grad, "by_size", "conv"),
        modconv=modconv,
        grouped_conv="split" if cpu else "native",
        devices=len(devices),
    )
