"""gan_jax: generative adversarial networks in JAX.

Pure-function Flax Linen models, one `GANState` pytree, and a `jax.jit`-compiled
train step over a `'data'` device mesh. Entry point: `gan_jax.run.trainer.train_and_evaluate`.
The small public API, each imported on first use: `gan_jax.base_config()`,
`gan_jax.build(config)` (`gan_jax.training.build`), `gan_jax.train_and_evaluate(config,
workdir)` and `gan_jax.load_generator(path)` (a generator written by ``python -m
gan_jax.tools.export``).
"""

__version__ = "0.1.0"


# The small public API, each imported on first use (importing gan_jax stays cheap).
_PUBLIC = {
    "load_generator": ("gan_jax.run.exported", "load_generator"),
    "base_config": ("gan_jax.config", "base_config"),
    "build": ("gan_jax.training.build", "build"),
    "train_and_evaluate": ("gan_jax.run.trainer", "train_and_evaluate"),
}


def __getattr__(name: str):
    if name in _PUBLIC:
        import importlib

        module, attr = _PUBLIC[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'gan_jax' has no attribute {name!r}")
