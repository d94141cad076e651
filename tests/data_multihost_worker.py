"""One process of a two-process input pipeline over a pack; records what it read and holds.

    python tests/data_multihost_worker.py OUT.npz COORDINATOR PROCESS_ID PACK_DIR WORKERS

Joins `jax.distributed` as process PROCESS_ID of 2 (two CPU devices each, from the
environment), draws the first 3 global batches of configs/tiny.py (``dataset.mirror``
on) from the pack through `gan_jax.data.pipeline.batches`, read in this process, then again with
WORKERS worker processes, and writes to OUT.npz: ``read``, every example index its
dataset was asked for in this process, in order; ``image``, ``label``, the rows of each
global batch this process's devices hold, with ``columns``, their places on the batch
axis; and the same from the worker processes, ``workers_image``, ``workers_label``,
``workers_columns``. `tests/data/test_packed.py` launches two.
"""

import dataclasses
import importlib.util
import os
import sys

import jax
import numpy as np

from gan_jax import parallel
from gan_jax.data import pipeline as data
from gan_jax.data import sources as datasets

TINY = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "tiny.py")


@dataclasses.dataclass
class Recording:
    """A dataset that notes every index it is asked to read (in the process that reads)."""

    dataset: object
    asked: list
    in_memory = False

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def labels(self) -> np.ndarray:
        return self.dataset.labels

    def read(self, indices):
        self.asked.extend(np.asarray(indices).tolist())
        return self.dataset.read(indices)


def main() -> None:
    out, coordinator, process_id, pack_dir, workers = sys.argv[1:]
    jax.distributed.initialize(coordinator, num_processes=2, process_id=int(process_id))
    assert (jax.local_device_count(), jax.device_count()) == (2, 4)
    spec = importlib.util.spec_from_file_location("tiny", TINY)
    tiny = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tiny)
    config = tiny.get_config()
    config.dataset.update(source="auto", path=pack_dir, mirror=True)
    dataset = Recording(datasets.load_dataset(config.dataset), [])
    mesh = parallel.create_mesh()
    held = {}
    for name, n_workers in (("", 0), ("workers_", int(workers))):
        config.dataset.workers = n_workers
        for batch in data.batches(dataset, config, mesh, 0, 3):
            for key, array in batch.items():
                shards = sorted(array.addressable_shards, key=lambda s: s.index[1].start)
                held.setdefault(name + key, []).append(
                    np.concatenate([np.asarray(s.data) for s in shards], 1)
                )
            held.setdefault(name + "columns", []).append(
                np.concatenate([np.arange(s.index[1].start, s.index[1].stop) for s in shards])
            )
    np.savez(out, read=np.asarray(dataset.asked), **held)


if __name__ == "__main__":
    main()
