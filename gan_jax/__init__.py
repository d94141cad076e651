"""gan_jax: generative adversarial networks in JAX.

Pure-function Flax Linen models, one `GANState` pytree, and a `jax.jit`-compiled
train step over a `'data'` device mesh. Entry point: `gan_jax.trainer.train_and_evaluate`.
"""

__version__ = "0.1.0"
