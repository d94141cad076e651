"""The 4×4 stride-2 convolutions (`gan_jax.ops.conv4x4`): each form (batch slices, the
adjoint gradients, the sub-pixel forward, the taps weight gradient) the same function with
the same gradients as the plain layer, the rules that pick them, and the DCGAN networks
built with them."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import dcgan, layers
from gan_jax.ops import conv4x4
from gan_jax.ops.policy import Policy


@pytest.fixture(params=[1, 4], ids=["one device", "four devices"])
def devices(request):
    """Both ways of slicing: contiguous blocks (one device) and strided (several)."""
    return request.param


def test_split_and_join(devices):
    x = jnp.arange(12.0).reshape(12, 1)
    parts = conv4x4.split(x, 3, devices)
    if devices == 1:
        assert [p[:, 0].tolist() for p in parts] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    else:
        assert [p[:, 0].tolist() for p in parts] == [[0, 3, 6, 9], [1, 4, 7, 10], [2, 5, 8, 11]]
    np.testing.assert_array_equal(conv4x4.join(parts, devices), x)


def _loss_and_grads(fn, x, kernel, v):
    """f = Σ tanh(fn(x, W))·v, its gradients, and the gradient of ‖∂f/∂x‖² w.r.t. W
    (the second-order term an R1 penalty differentiates)."""

    def f(x, kernel):
        return jnp.sum(jnp.tanh(fn(x, kernel)) * v)

    def r1(kernel):
        return jnp.sum(jnp.square(jax.grad(f)(x, kernel)))

    return (fn(x, kernel), *jax.grad(f, argnums=(0, 1))(x, kernel), jax.grad(r1)(kernel))


@pytest.mark.parametrize("n", [1, 2, 4])
def test_down_sliced_is_the_strided_convolution(n, devices):
    """Output and both gradients equal nn.Conv(k=4, s=2, p=1)'s; second order too."""
    x = jax.random.normal(jax.random.key(0), (8, 10, 6, 3))
    kernel = jax.random.normal(jax.random.key(1), (4, 4, 3, 5)) * 0.2
    v = jax.random.normal(jax.random.key(2), (8, 5, 3, 5))
    conv = nn.Conv(5, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=False)
    plain = lambda x, k: conv.apply({"params": {"kernel": k}}, x)  # noqa: E731
    sliced = lambda x, k: conv4x4.down_sliced(x, k, n, False, devices)  # noqa: E731
    for ours, want in zip(_loss_and_grads(sliced, x, kernel, v), _loss_and_grads(plain, x, kernel, v)):
        np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [1, 2, 4])
def test_up_adjoint_on_slices_is_the_transposed_convolution(n, devices):
    """Output and both gradients equal nn.ConvTranspose(k=4, s=2, PyTorch's p=1)'s."""
    x = jax.random.normal(jax.random.key(0), (8, 5, 3, 6))
    kernel = jax.random.normal(jax.random.key(1), (4, 4, 6, 4)) * 0.2
    v = jax.random.normal(jax.random.key(2), (8, 10, 6, 4))
    conv = nn.ConvTranspose(4, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)), use_bias=False)
    plain = lambda x, k: conv.apply({"params": {"kernel": k}}, x)  # noqa: E731
    sliced = lambda x, k: conv4x4.up_adjoint(x, k, n, False, False, devices)  # noqa: E731
    for ours, want in zip(_loss_and_grads(sliced, x, kernel, v), _loss_and_grads(plain, x, kernel, v)):
        np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5)


def test_auto_slices_rule():
    mib = 2**20
    assert conv4x4.auto_slices(128, 2 * mib) == 1  # fits
    assert conv4x4.auto_slices(128, 6 * mib) == 2
    assert conv4x4.auto_slices(128, 8 * mib + 1) == 4
    assert conv4x4.auto_slices(128, 64 * mib) == 4  # at most 4
    assert conv4x4.auto_slices(32, 64 * mib) == 2  # at least 16 examples a slice
    assert conv4x4.auto_slices(24, 64 * mib) == 1  # 24 / 2 = 12 < 16
    assert conv4x4.auto_slices(128, 8 * mib, devices=8) == 1  # 1 MiB and 16 examples per device
    assert conv4x4.auto_slices(512, 64 * mib, devices=8) == 2  # 8 MiB per device; 32 → 2 × 16


def test_resolve_takes_a_divisor_of_the_batch():
    assert conv4x4.resolve(4, 12, 0) == 4
    assert conv4x4.resolve(8, 12, 0) == 6  # largest divisor of 12 not above 8
    assert conv4x4.resolve(4, 6, 0) == 3
    assert conv4x4.resolve(4, 2, 0) == 2


def _assert_same_training_step(module_a, module_b, variables, inputs, rtol, atol):
    """Two forms of one network: the same outputs in training mode, and the same gradients
    of Σ sin(output) w.r.t. the parameters and the inputs."""

    def run(module):
        def f(params, inputs):
            out, _ = module.apply(
                {**variables, "params": params}, inputs, None, train=True, mutable=["batch_stats"]
            )
            return jnp.sum(jnp.sin(out)), out

        return jax.value_and_grad(f, argnums=(0, 1), has_aux=True)(variables["params"], inputs)

    (_, out_a), grads_a = run(module_a)
    (_, out_b), grads_b = run(module_b)
    np.testing.assert_allclose(out_a, out_b, rtol=1e-6, atol=1e-6)
    for a, b in zip(jax.tree.leaves(grads_a), jax.tree.leaves(grads_b)):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _dcgan_pair(resolution: int, policy: Policy) -> tuple[nn.Module, nn.Module]:
    up = functools.partial(layers.UpConv, policy=policy)
    down = functools.partial(layers.DownConv, policy=policy)
    return (
        dcgan.Generator(resolution=resolution, channels=3, width=8, up_conv=up),
        dcgan.Discriminator(resolution=resolution, width=8, down_conv=down),
    )


def test_subpixel_kernel_places_each_tap_once():
    kernel = jnp.arange(16.0).reshape(4, 4, 1, 1) + 1
    k3 = np.asarray(conv4x4.subpixel_kernel(kernel))[:, :, 0, :]  # (3, 3, 4 phases)
    # every one of the 16 taps appears exactly once across the four phases, the rest are zeros
    assert sorted(k3[k3 != 0].tolist()) == list(range(1, 17)) and np.count_nonzero(k3) == 16
    # phase (0, 0) uses taps rows/cols (0, 2) at window offsets (0, 1)
    np.testing.assert_array_equal(k3[:2, :2, 0], np.asarray(kernel)[::2, ::2, 0, 0])


@pytest.mark.parametrize("form", ["adjoint", "subpixel"])
def test_dcgan_generator_same_function_and_gradients_with_each_form(form):
    """G with each form of its up-convolutions against the native one: same images in
    training mode, same parameter gradients."""
    z = jax.random.normal(jax.random.key(0), (4, 16))
    native, _ = _dcgan_pair(32, Policy(conv_transpose="native"))
    other, _ = _dcgan_pair(32, Policy(conv_transpose=form))
    variables = native.init(jax.random.key(1), z, None, train=False)
    _assert_same_training_step(native, other, variables, z, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("resolution", [28, pytest.param(32, marks=pytest.mark.slow)])
def test_dcgan_same_function_and_gradients_with_slices(resolution, devices):
    """G and D with 4 slices against 1: same parameters (the nn.Conv names D always had),
    same outputs and gradients in training mode."""
    z = jax.random.normal(jax.random.key(0), (16, 16))
    x = jax.random.normal(jax.random.key(1), (16, resolution, resolution, 3))
    plain = _dcgan_pair(resolution, Policy(conv_transpose="adjoint"))
    sliced = _dcgan_pair(resolution, Policy(conv_transpose="adjoint", conv_batch_slices=4, devices=devices))
    for whole, in_slices, inputs in zip(plain, sliced, (z, x)):
        variables = whole.init(jax.random.key(2), inputs, None, train=False)
        assert jax.tree.structure(in_slices.init(jax.random.key(2), inputs, None, train=False)) == (
            jax.tree.structure(variables)
        )
        _assert_same_training_step(whole, in_slices, variables, inputs, rtol=1e-5, atol=1e-6)
    names = dcgan.Discriminator(resolution=resolution, width=8).init(jax.random.key(0), x, None)
    assert {"Conv_0", "Conv_1", "logit"} <= set(names["params"])


def test_downconv_equals_flax_conv_with_bias():
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, 3))
    reference = nn.Conv(6, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)))
    params = reference.init(jax.random.key(1), x)
    ours = layers.DownConv(6, policy=Policy(conv_batch_slices=2))
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x)) == jax.tree.map(jnp.shape, params)
    np.testing.assert_allclose(ours.apply(params, x), reference.apply(params, x), atol=1e-5)


@pytest.mark.parametrize("shape", [(4, 8, 8, 1), (3, 10, 6, 3), (2, 12, 12, 4)])
def test_taps_kernel_grad_against_a_brute_force_sum(shape):
    """dW[i, j] = Σ_{b,h,w} x̃[b, 2h+i, 2w+j, :]ᵀ dy[b, h, w, :], summed here term by term,
    and equal to the gradient XLA takes of the convolution."""
    rng = np.random.default_rng(0)
    b, h, w, c = shape
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal((b, h // 2, w // 2, 5)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))).astype(np.float64)
    want = np.zeros((4, 4, c, 5))
    for i in range(4):
        for j in range(4):
            for r in range(h // 2):
                for s in range(w // 2):
                    want[i, j] += padded[:, 2 * r + i, 2 * s + j, :].T @ dy[:, r, s, :]
    ours = conv4x4.taps_kernel_grad(jnp.asarray(x), jnp.asarray(dy))
    np.testing.assert_allclose(ours, want, rtol=1e-5, atol=1e-5)
    kernel = jnp.zeros((4, 4, c, 5))
    np.testing.assert_allclose(
        conv4x4.down_kernel_grad(x, dy, kernel, taps=False), want, rtol=1e-5, atol=1e-5
    )


_TAPS_CASES = {  # layer: (input shape, kernel shape, output shape, reference Flax layer, ours)
    "down": (
        (8, 10, 6, 3),
        (4, 4, 3, 5),
        (8, 5, 3, 5),
        nn.Conv(5, (4, 4), strides=(2, 2), padding=((1, 1), (1, 1)), use_bias=False),
        lambda x, k, n, devices: conv4x4.down_sliced(x, k, n, True, devices),
    ),
    "up": (
        (8, 5, 3, 6),
        (4, 4, 6, 2),
        (8, 10, 6, 2),
        nn.ConvTranspose(2, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)), use_bias=False),
        lambda x, k, n, devices: conv4x4.up_adjoint(x, k, n, True, False, devices),
    ),
}


@pytest.mark.parametrize("layer", sorted(_TAPS_CASES))
@pytest.mark.parametrize("n", [1, 2])
def test_sliced_layers_with_taps_weight_gradients(layer, n, devices):
    """down_sliced and up_adjoint with the taps weight gradient: output, both gradients and
    the R1-style second-order term equal the plain layers'."""
    x_shape, kernel_shape, y_shape, reference, ours = _TAPS_CASES[layer]
    x = jax.random.normal(jax.random.key(0), x_shape)
    kernel = jax.random.normal(jax.random.key(1), kernel_shape) * 0.2
    v = jax.random.normal(jax.random.key(2), y_shape)
    plain = lambda x, k: reference.apply({"params": {"kernel": k}}, x)  # noqa: E731
    taps = lambda x, k: ours(x, k, n, devices)  # noqa: E731
    for got, want in zip(_loss_and_grads(taps, x, kernel, v), _loss_and_grads(plain, x, kernel, v)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_use_taps_rule():
    assert conv4x4.use_taps("by_size", (64, 32, 32, 3))  # 768 KiB, 3 channels
    assert not conv4x4.use_taps("by_size", (64, 28, 28, 1))  # 196 KiB
    assert not conv4x4.use_taps("by_size", (64, 32, 32, 16))  # 16 channels
    assert conv4x4.use_taps("taps", (2, 4, 4, 64)) and not conv4x4.use_taps("conv", (64, 32, 32, 3))
    assert conv4x4.use_taps("by_size", (128, 64, 64, 3), itemsize=2)
    assert not conv4x4.use_taps("by_size", (64, 32, 32, 3), devices=8)  # 96 KiB per device
    assert conv4x4.use_taps("by_size", (1024, 32, 32, 1), devices=8)  # 4 MiB: 512 KiB per device
    assert not conv4x4.use_taps("by_size", (1024, 32, 32 - 1, 1), devices=8)


@pytest.mark.parametrize("resolution", [28, 32])
def test_dcgan_same_function_and_gradients_with_taps(resolution):
    """G and D with the taps weight gradient against the convolution's: same outputs and
    parameter gradients in training mode (D's first layer and G's last use them)."""
    z = jax.random.normal(jax.random.key(0), (16, 16))
    x = jax.random.normal(jax.random.key(1), (16, resolution, resolution, 3))
    conv = _dcgan_pair(resolution, Policy(conv_transpose="adjoint", conv_weight_grad="conv"))
    taps = _dcgan_pair(resolution, Policy(conv_transpose="adjoint", conv_weight_grad="taps"))
    for by_conv, by_taps, inputs in zip(conv, taps, (z, x)):
        variables = by_conv.init(jax.random.key(2), inputs, None, train=False)
        # the taps sum in another order: float32 rounding differs
        _assert_same_training_step(by_conv, by_taps, variables, inputs, rtol=1e-4, atol=1e-5)
