"""NVlabs stylegan2-ada-pytorch state dicts → gan_jax StyleGAN2 variables.

The source is a flat ``{name: array}`` state dict, e.g. ``G_ema.synthesis.b4.conv1.weight``,
as an ``.npz`` (read with ``allow_pickle=False``) or a ``.safetensors`` file (needs the
``safetensors`` package). The networks' parameters are stored in NVlabs'
parameterisation, so the conversion is a change of layout only:

* convolution kernels OIHW → HWIO, dense kernels [out, in] → [in, out], the 4×4
  constant (C, H, W) → (H, W, C); everything else as is;
* ``mapping.*`` and ``synthesis.*`` of a generator go to the ``mapping_network`` and
  ``synthesis_network`` submodules;
* the buffers ``mapping.w_avg`` and ``*.noise_const`` become the ``w_avg`` and
  ``noise_const`` collections; the ``*.resample_filter`` buffers are checked to be the
  [1, 3, 3, 1] filter gan_jax uses and dropped.

Every tensor the gan_jax network has must be present with its shape, and nothing else
may be: the first missing, unexpected or mis-shaped tensor is a `ConfigError`.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.convert.common import from_torch, torch_shape
from gan_jax.errors import ConfigError
from gan_jax.models import stylegan2
from gan_jax.ops import upfirdn2d
from gan_jax.models.stylegan2.layers import FIR_TAPS

_SUBMODULES = {"mapping_network": "mapping", "synthesis_network": "synthesis"}
COLLECTIONS = ("w_avg", "noise_const")


def _abstract_variables(model, img_channels: int) -> dict:
    if isinstance(model, stylegan2.Generator):
        inputs = jnp.zeros((2, model.z_dim), jnp.float32)
    elif isinstance(model, stylegan2.Discriminator):
        inputs = jnp.zeros((2, model.resolution, model.resolution, img_channels), jnp.float32)
    else:
        raise TypeError(
            f"expected a gan_jax StyleGAN2 Generator or Discriminator, got {type(model).__name__}"
        )
    labels = jnp.zeros((2,), jnp.int32)
    return jax.eval_shape(lambda k: model.init(k, inputs, labels, train=False), jax.random.key(0))


Layout = dict[str, tuple[str, tuple[str, ...], tuple[int, ...]]]


def torch_layout(model, img_channels: int = 3) -> Layout:
    """{NVlabs name (no prefix): (collection, gan_jax path, NVlabs shape)} for every tensor of
    ``model``; ``img_channels`` is the discriminator's input channels."""
    layout = {}
    for collection, tree in _abstract_variables(model, img_channels).items():
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
            keys = tuple(p.key for p in path)
            parts = [_SUBMODULES.get(keys[0], keys[0]), *keys[1:]]
            shape = torch_shape(leaf.shape) if collection == "params" else tuple(leaf.shape)
            layout[".".join(parts)] = (collection, keys, shape)
    return layout


def _discriminator_channels(state: dict[str, np.ndarray], prefix: str, resolution: int) -> int:
    name = f"{prefix}b{resolution}.fromrgb.weight"
    if name not in state:
        raise ConfigError(f"missing tensor {name}: not a {resolution}px StyleGAN2 discriminator")
    return int(state[name].shape[1])


def convert(
    state: dict[str, np.ndarray], prefix: str, model, img_channels: int | None = None
) -> tuple[dict, dict]:
    """(params, collections) for ``model`` from the tensors of ``state`` named ``prefix*``
    ('G.', 'G_ema.' or 'D.'). ``collections`` holds ``w_avg`` and ``noise_const`` for a
    generator and is empty for a discriminator, whose input channels ``img_channels``
    are read from its FromRGB weight unless given."""
    own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    if not own:
        raise ConfigError(f"no tensors named {prefix}*; the file has {sorted(state)[:3]}…")
    if img_channels is None:
        img_channels = (
            model.channels
            if isinstance(model, stylegan2.Generator)
            else _discriminator_channels(state, prefix, model.resolution)
        )
    layout = torch_layout(model, img_channels)
    missing = [n for n in layout if n not in own]
    if missing:
        raise ConfigError(f"missing tensor {prefix}{missing[0]} ({len(missing)} missing in all)")
    fir_filter = upfirdn2d.setup_filter(FIR_TAPS)
    for name in sorted(own):
        if name in layout:
            continue
        if name.endswith("resample_filter"):
            value = own[name]
            if value.shape != fir_filter.shape or not np.allclose(value, fir_filter, atol=1e-7):
                raise ConfigError(f"{prefix}{name} is not the [1, 3, 3, 1] filter gan_jax uses")
            continue
        extra = [n for n in own if n not in layout and not n.endswith("resample_filter")]
        raise ConfigError(
            f"unexpected tensor {prefix}{name} ({len(extra)} unexpected in all): "
            f"the network was built with another architecture or size"
        )
    variables: dict = {}
    for name, (collection, keys, shape) in layout.items():
        value = np.asarray(own[name])
        if tuple(value.shape) != shape:
            raise ConfigError(
                f"{prefix}{name} has shape {tuple(value.shape)}, the gan_jax network expects {shape}"
            )
        value = from_torch(value) if collection == "params" else value
        node = variables.setdefault(collection, {})
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = jnp.asarray(value, jnp.float32)
    params = variables.pop("params")
    return params, variables


# ----------------------------------------------------------------------------
# A gan_jax state from a published network


def state_from_state_dict(run, state_dict: dict[str, np.ndarray], convert_fn=None):
    """``run``'s initial state with G, its EMA and D replaced by the networks of
    ``state_dict``: ``G_ema.*`` (or ``G.*``) → the EMA generator and its collections,
    ``G.*`` (or ``G_ema.*``) → the trained generator, ``D.*`` → the discriminator (kept at
    its initialisation when the file has none). Optimizer states start fresh.
    ``convert_fn`` is the architecture's `convert` (default: StyleGAN2's)."""
    convert_fn = convert_fn or convert
    has = {p: any(k.startswith(p) for k in state_dict) for p in ("G.", "G_ema.", "D.")}
    if not (has["G."] or has["G_ema."]):
        raise ConfigError("the state dict has no G.* or G_ema.* tensors: export the generator too")
    ema_prefix, g_prefix = ("G_ema." if has["G_ema."] else "G."), ("G." if has["G."] else "G_ema.")
    ema_params, g_vars = convert_fn(state_dict, ema_prefix, run.g_model)
    g_params, _ = convert_fn(state_dict, g_prefix, run.g_model)
    state = run.init_state()
    updates = dict(g_params=g_params, ema_params=ema_params, g_vars={**state.g_vars, **g_vars})
    if has["D."]:
        d_params, d_vars = convert_fn(state_dict, "D.", run.d_model, run.config.dataset.channels)
        updates.update(d_params=d_params, d_vars={**state.d_vars, **d_vars})
    # The optimizer states were initialised for the random weights; Adam's moments start
    # at zero either way, so only the parameters need replacing.
    replicated = jax.tree.map(lambda x: x.sharding, state)
    new = state.replace(**updates)
    return jax.device_put(new, replicated), has["D."]
