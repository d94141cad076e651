"""Device mesh, shardings and multi-host start-up.

gan_jax is data-parallel over one mesh axis, ``'data'``, spanning every device of
every process. The state is replicated (``P()``); batches are sharded on their batch
axis (``P('data')``). Because the step is one `jax.jit` program over global arrays,
means inside it (losses, BatchNorm statistics) are taken over the global batch:
BatchNorm is synchronised across devices without any explicit collective.
"""

import os

import jax
import ml_collections
import numpy as np
from absl import logging
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from gan_jax.errors import ConfigError

DATA_AXIS = "data"

# Variables set by the launchers jax.distributed.initialize() knows how to read.
_CLUSTER_ENV = (
    "JAX_COORDINATOR_ADDRESS",
    "SLURM_JOB_ID",
    "OMPI_COMM_WORLD_SIZE",
    "MEGASCALE_COORDINATOR_ADDRESS",
    "TPU_WORKER_HOSTNAMES",
)


def maybe_initialize_distributed(config: ml_collections.ConfigDict) -> None:
    """Calls `jax.distributed.initialize()` when asked to or when a cluster launched us.

    ``config.distributed.enabled``: True forces it, False never, None (default)
    initialises when one of the usual cluster variables is set. The coordinator
    address, process count and id come from ``config.distributed`` when given, else
    JAX detects them (TPU pods, Slurm, Open MPI).
    """
    dist = config.get("distributed", ml_collections.ConfigDict())
    enabled = dist.get("enabled", None)
    if enabled is None:
        # A single-host Slurm allocation has SLURM_JOB_ID too; only a multi-task job is a cluster.
        env = [v for v in _CLUSTER_ENV if v in os.environ]
        if env == ["SLURM_JOB_ID"] and int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
            env = []
        enabled = bool(env)
    if not enabled or jax.distributed.is_initialized():
        return
    kwargs = {
        k: dist.get(k)
        for k in ("coordinator_address", "num_processes", "process_id")
        if dist.get(k) is not None
    }
    logging.info("jax.distributed.initialize(%s)", kwargs)
    jax.distributed.initialize(**kwargs)


def create_mesh(devices=None) -> Mesh:
    """A one-axis ``'data'`` mesh over ``devices`` (default: all devices of all processes)."""
    devices = jax.devices() if devices is None else devices
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def data_sharded(mesh: Mesh, leading_unsharded: int = 0) -> NamedSharding:
    """Sharding of a batch whose axis ``leading_unsharded`` is the batch axis."""
    return NamedSharding(mesh, P(*([None] * leading_unsharded), DATA_AXIS))


def from_every_process(x: np.ndarray | jax.Array, sharding: NamedSharding) -> jax.Array:
    """``x``, which every process holds whole, as a global array with ``sharding``.

    jit refuses a host array for an input sharded over other processes' devices; here
    each process places only its own devices' shards of the value they all hold.
    """
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])


def all_processes(flag: bool) -> bool:
    """Whether ``flag`` holds on every process. Processes that choose between a collective
    path and a local one on a local fact (a file exists) must choose alike, or the ones
    on the collective path wait for the others for ever."""
    if jax.process_count() == 1:
        return flag
    return bool(multihost_utils.process_allgather(np.asarray(flag)).all())


def check_batch_size(batch_size: int, mesh: Mesh, microbatches: int = 1) -> None:
    """The global batch must split evenly over the devices (and so over processes), and each
    device's share over the ``microbatches`` of gradient accumulation (`gan_jax.training.accumulate`)."""
    n = mesh.devices.size
    if batch_size <= 0 or batch_size % n:
        raise ConfigError(
            f"batch_size={batch_size} must be a positive multiple of the {n} devices "
            f"in the mesh; try batch_size={max(n, batch_size // n * n) or n}"
        )
    if (batch_size // n) % microbatches:
        raise ConfigError(
            f"microbatches={microbatches} must divide each device's {batch_size // n} images "
            f"(batch_size={batch_size} over {n} devices); try batch_size="
            f"{n * microbatches * max(1, batch_size // (n * microbatches))}"
        )
