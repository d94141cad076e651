"""gan_jax: generative adversarial networks in JAX.

Pure-function Flax Linen models, one `GANState` pytree, and a `jax.jit`-compiled
train step over a `'data'` device mesh. Entry point: `gan_jax.run.trainer.train_and_evaluate`.
`gan_jax.load_generator(path)` reads a generator written by ``python -m gan_jax.tools.export``
(`gan_jax.run.exported`), imported on first use.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    if name == "load_generator":
        from gan_jax.run.exported import load_generator

        return load_generator
    raise AttributeError(f"module 'gan_jax' has no attribute {name!r}")
