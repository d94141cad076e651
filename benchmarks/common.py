"""Shared pieces of the benchmarks: timing, the machine's description, tables and JSON.

Timing rules every benchmark follows: warm-up runs (compilation, caches) are excluded,
each timed run ends with the device synchronised (``jax.block_until_ready`` /
``torch.cuda.synchronize``), and the figure reported is the median over many runs.
"""

import datetime
import json
import os
import platform
import statistics
import sys
import time
from typing import Callable

import jax
import jax.numpy as jnp

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)


def median_time(
    fn: Callable[[], object], sync: Callable[[object], object], warmup: int = 2, runs: int = 10
) -> float:
    """Median seconds of ``sync(fn())`` over ``runs`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        sync(fn())
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        sync(fn())
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def load_config(name: str):
    """``get_config()`` of ``configs/<name>.py``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "configs", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


def measured_peak_flops(dtype=jnp.float32, n: int | None = None) -> float:
    """The chip's attainable matmul FLOP/s for ``dtype``: the median time of an n×n×n
    matmul (2n³ FLOPs). This, not the data-sheet figure, is the MFU denominator."""
    backend = jax.default_backend()
    n = n or (8192 if backend in ("gpu", "tpu") else 2048)
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32).astype(dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), jnp.float32).astype(dtype)
    matmul = jax.jit(lambda x, y: x @ y)
    seconds = median_time(lambda: matmul(a, b), jax.block_until_ready, warmup=2, runs=10)
    return 2.0 * n**3 / seconds


def peak_memory_bytes() -> int | None:
    """Peak device memory of this process on accelerators; on CPU the peak resident set."""
    stats = jax.devices()[0].memory_stats() if jax.default_backend() != "cpu" else None
    if stats and "peak_bytes_in_use" in stats:
        return int(stats["peak_bytes_in_use"])
    import resource

    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def machine() -> dict:
    """Device, library versions and date: what every result must be reported with."""
    info = {
        "date": datetime.date.today().isoformat(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        import flax

        info["flax"] = flax.__version__
    except ImportError:
        pass
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def print_table(rows: list[dict], columns: list[str]) -> None:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
        return "" if v is None else str(v)

    cells = [[fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for row in cells:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def write_json(path: str, payload: dict) -> None:
    os.makedirs(os.path.dirname(os.path.abspath(path)) or ".", exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True, default=str)
    print(f"wrote {path}")
