"""The ops policy (`gan_jax.ops.policy`): 'auto' resolved once from the run's devices, the
explicit choices kept, and the models of a built run computing in the mesh's forms."""

import dataclasses

import jax

from gan_jax import config as config_lib
from gan_jax import parallel
from gan_jax.ops import policy
from gan_jax.training import build


@dataclasses.dataclass
class _Device:
    platform: str


def test_auto_on_the_cpu_takes_the_forms_measured_faster_there():
    got = policy.for_devices(config_lib.base_config().ops, jax.devices())
    assert got == policy.Policy(
        conv_transpose="adjoint",
        conv_batch_slices=0,
        conv_weight_grad="by_size",
        modconv="nonfused",
        grouped_conv="split",
        devices=len(jax.devices()),
    )


def test_auto_elsewhere_takes_the_plain_forms_and_nvlabs_fusing_rule_on_a_gpu():
    ops = config_lib.base_config().ops
    gpu = policy.for_devices(ops, [_Device("gpu")] * 4)
    assert gpu == policy.Policy(modconv="nvlabs", devices=4)
    assert policy.for_devices(ops, [_Device("tpu")] * 8) == policy.Policy(devices=8)


def test_explicit_choices_are_kept_on_every_backend():
    ops = config_lib.base_config().ops
    ops.conv_transpose, ops.conv_batch_slices, ops.conv_weight_grad = "subpixel", 2, "taps"
    ops.fused_modconv = "fused"
    for platform in ("cpu", "gpu", "tpu"):
        got = policy.for_devices(ops, [_Device(platform)])
        assert (got.conv_transpose, got.conv_batch_slices, got.conv_weight_grad, got.modconv) == (
            "subpixel",
            2,
            "taps",
            "fused",
        )


def test_a_built_run_computes_in_the_forms_of_its_mesh(tiny_config):
    """The models of `build.build` carry the policy of the mesh's devices: a mesh of 2 of
    the 8 devices gives per-device sizes over 2, not over every device of the process."""
    mesh = parallel.create_mesh(jax.devices()[:2])
    run = build.build(tiny_config, mesh)
    up = run.g_model.up_conv.keywords["policy"]
    assert up == policy.for_devices(tiny_config.ops, jax.devices()[:2]) and up.devices == 2
