"""brownvc/R3GAN state dicts → gan_jax R3GAN variables.

    python -m gan_jax.tools.convert_r3gan --src cifar10.npz --config configs/r3gan_cifar10.py \\
        --workdir runs/r3gan_cifar10

The source is a flat ``{name: array}`` state dict of R3GAN's ``training.networks``
wrappers (``G_ema.Model.MainLayers.1.Layers.2.LinearLayer2.Layer.weight``; the ``Model.``
level may be absent), as ``.npz`` or ``.safetensors`` (`convert.common.load_state_dict`).
R3GAN stores its weights in the parameterisation it uses, so the conversion is a change
of layout and names only:

    MainLayers.i.Layers.0  (G: basis or upsampling transition)  → stage{i}_…
    MainLayers.i.Layers.j+1 (G) / .Layers.j (D)  LinearLayer{1,2,3}, NonLinearity{1,2}
                                                 → stage{i}_block{j}/conv{1,2,3}, act{1,2}
    MainLayers.i.Layers.n   (D: downsampling transition or basis) → stage{i}_…
    AggregationLayer / ExtractionLayer / EmbeddingLayer → aggregate / extract / embed

with OIHW kernels → HWIO, [out, in] → [in, out], the generator's (C, 4, 4) basis →
(4, 4, C). The resamplers' ``Kernel`` buffers are checked to be the [1, 3, 3, 1] filter and
dropped. Every tensor must be present with its shape and nothing else may be.
"""

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.convert.common import from_torch, torch_shape
from gan_jax.errors import ConfigError
from gan_jax.models import r3gan
from gan_jax.ops import upfirdn2d


def _torch_name(keys: tuple[str, ...], model) -> str:
    """The R3GAN (``Model.``-less) name of the gan_jax parameter at ``keys``."""
    is_g = isinstance(model, r3gan.Generator)
    head = keys[0]
    if head in ("aggregate", "extract"):
        return f"{'AggregationLayer' if is_g else 'ExtractionLayer'}.Layer.weight"
    if head == "embed":
        return "EmbeddingLayer.weight"
    if head == "basis":  # G: the learned 4×4 tensor; D: the depthwise 4×4 convolution
        return (
            "MainLayers.0.Layers.0.Basis"
            if is_g
            else f"MainLayers.{_stages(model) - 1}.Layers.{_blocks(model)[-1]}.Basis.weight"
        )
    stage, part = head.split("_", 1)
    i = int(stage[len("stage") :])
    if part.startswith("block"):
        j = int(part[len("block") :])
        layer = f"MainLayers.{i}.Layers.{j + 1 if is_g else j}"
        sub = keys[1]
        if sub.startswith("conv"):
            return f"{layer}.LinearLayer{sub[len('conv') :]}.Layer.weight"
        return f"{layer}.NonLinearity{sub[len('act') :]}.Bias"
    transition = f"MainLayers.{i}.Layers.{0 if is_g else _blocks(model)[i]}"
    if part == "linear":
        return f"{transition}.LinearLayer.weight"
    return f"{transition}.LinearLayer.Layer.weight"  # part == 'transition' (1×1 conv)


def _plan(model):
    return r3gan.stage_plan(
        model.resolution,
        model.width,
        model.stage_widths,
        model.stage_blocks,
        model.stage_groups,
        model.expansion,
    )


def _stages(model) -> int:
    return len(_plan(model)[0])


def _blocks(model) -> list[int]:
    """Blocks per stage in the network's own stage order (reversed for D)."""
    blocks = _plan(model)[1]
    return blocks if isinstance(model, r3gan.Generator) else blocks[::-1]


def _abstract_params(model, img_channels: int) -> dict:
    if isinstance(model, r3gan.Generator):
        inputs = jnp.zeros((2, model.z_dim), jnp.float32)
    elif isinstance(model, r3gan.Discriminator):
        inputs = jnp.zeros((2, model.resolution, model.resolution, img_channels), jnp.float32)
    else:
        raise TypeError(f"expected a gan_jax R3GAN Generator or Discriminator, got {type(model).__name__}")
    labels = jnp.zeros((2,), jnp.int32)
    return jax.eval_shape(lambda k: model.init(k, inputs, labels, train=False), jax.random.key(0))["params"]


def torch_layout(model, img_channels: int = 3) -> dict[str, tuple[tuple[str, ...], tuple]]:
    """{R3GAN name: (gan_jax path, R3GAN shape)} for every parameter of ``model``."""
    layout = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(_abstract_params(model, img_channels))[0]:
        keys = tuple(p.key for p in path)
        layout[_torch_name(keys, model)] = (keys, torch_shape(leaf.shape))
    return layout


def convert(
    state: dict[str, np.ndarray], prefix: str, model, img_channels: int | None = None
) -> tuple[dict, dict]:
    """(params, {}) for ``model`` from the tensors of ``state`` named ``prefix*`` (e.g. 'G_ema.',
    'D.'; a following 'Model.' is optional). ``img_channels``: the discriminator's input
    channels, read from its extraction layer unless given."""
    own = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
    own = {(k[len("Model.") :] if k.startswith("Model.") else k): v for k, v in own.items()}
    if not own:
        raise ConfigError(f"no tensors named {prefix}*; the file has {sorted(state)[:3]}…")
    if img_channels is None:
        if isinstance(model, r3gan.Generator):
            img_channels = model.channels
        elif "ExtractionLayer.Layer.weight" in own:
            img_channels = int(own["ExtractionLayer.Layer.weight"].shape[1])
        else:
            raise ConfigError(
                f"missing tensor {prefix}ExtractionLayer.Layer.weight: not an R3GAN discriminator"
            )
    layout = torch_layout(model, img_channels)
    missing = [n for n in layout if n not in own]
    if missing:
        raise ConfigError(f"missing tensor {prefix}{missing[0]} ({len(missing)} missing in all)")
    fir = upfirdn2d.setup_filter(r3gan.FILTER)
    for name in sorted(own):
        if name in layout:
            continue
        if name.endswith("Resampler.Kernel"):
            value = np.asarray(own[name])
            if value.shape != fir.shape or not np.allclose(value, fir, atol=1e-7):
                raise ConfigError(f"{prefix}{name} is not the [1, 3, 3, 1] filter gan_jax uses")
            continue
        raise ConfigError(
            f"unexpected tensor {prefix}{name}: the network was built with another architecture or size"
        )
    params: dict = {}
    for name, (keys, shape) in layout.items():
        value = np.asarray(own[name], np.float32)
        if tuple(value.shape) != shape:
            raise ConfigError(
                f"{prefix}{name} has shape {tuple(value.shape)}, the gan_jax network expects {shape}"
            )
        node = params
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = jnp.asarray(from_torch(value))
    return params, {}
