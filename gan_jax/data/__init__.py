"""Data: sources, the packed format and its writer, the batch order and the pipeline to sharded
batches. `gan_jax.data.pipeline.order` imports no JAX (worker processes run it)."""
