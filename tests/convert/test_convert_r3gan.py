"""brownvc/R3GAN state dicts into gan_jax's R3GAN, without the peer: a state dict written in
R3GAN's names and layouts from a gan_jax network comes back as that network's parameters,
for both networks and a conditional, multi-stage, grouped plan (the peer parity test,
tests/models/test_parity_r3gan.py, checks the names against brownvc's own modules)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.convert import r3gan as cv
from gan_jax.errors import ConfigError
from gan_jax.models import r3gan

PLAN = dict(
    resolution=16, num_classes=3, stage_widths=(16, 16, 8), stage_blocks=(1, 2, 1), stage_groups=(2, 2, 1)
)


def _to_torch(value: np.ndarray) -> np.ndarray:
    """The inverse of `convert.common.from_torch` (HWIO → OIHW, HWC → CHW, (in, out) → (out, in))."""
    if value.ndim == 4:
        return value.transpose(3, 2, 0, 1)
    if value.ndim == 3:
        return value.transpose(2, 0, 1)
    if value.ndim == 2:
        return value.T
    return value


@pytest.mark.parametrize("net", ["G", "D"])
def test_a_state_dict_in_r3gans_layout_comes_back_as_the_network(net):
    model = r3gan.Generator(channels=3, z_dim=8, **PLAN) if net == "G" else r3gan.Discriminator(**PLAN)
    x = jnp.zeros((2, 8)) if net == "G" else jnp.zeros((2, 16, 16, 3))
    params = model.init(jax.random.key(0), x, jnp.zeros((2,), jnp.int32), train=False)["params"]
    params = jax.tree.map(lambda p: p + jax.random.normal(jax.random.key(1), p.shape), params)
    layout = cv.torch_layout(model, 3)
    assert len(layout) == len(jax.tree.leaves(params))
    state = {}
    for name, (keys, shape) in layout.items():
        value = params
        for k in keys:
            value = value[k]
        state[f"{net}.{name}"] = _to_torch(np.asarray(value))
        assert state[f"{net}.{name}"].shape == shape, name
    ours, _ = cv.convert(state, f"{net}.", model)
    jax.tree.map(np.testing.assert_array_equal, ours, jax.tree.map(np.asarray, params))
    wrong = r3gan.Generator(channels=3, z_dim=8, **{**PLAN, "stage_widths": (16, 16, 12)})
    if net == "G":
        with pytest.raises(ConfigError, match="has shape"):
            cv.convert(state, "G.", wrong)
