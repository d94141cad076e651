"""The machine a suite run was taken on: device, driver and CUDA, library versions, date.

    python benchmarks/suite_machine.py --torch-python PYTHON --out OUT/machine.json

JAX's view (backend, device kind and count), every installed ``jax*`` distribution
(jaxlib, the CUDA plugins) with flax and optax, the NVIDIA driver, CUDA version and GPU
from ``nvidia-smi`` when there is one, the CPU, the git commit of this checkout, and the
torch side as its own Python reports it (torch, its CUDA and cuDNN, the device it sees,
pytorch-fid), or why there is none.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import subprocess

import jax

import common

TORCH_PROBE = """
import json, torch
info = {"torch": torch.__version__, "torch_cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(), "cuda_available": torch.cuda.is_available()}
if torch.cuda.is_available():
    info["torch_device"] = torch.cuda.get_device_name()
try:
    import pytorch_fid
    info["pytorch_fid"] = pytorch_fid.__version__
except ImportError:
    info["pytorch_fid"] = None
print(json.dumps(info))
"""


def run(command: list[str], timeout: float = 60) -> str | None:
    """stdout of ``command``, None when it cannot run or fails."""
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def nvidia() -> dict:
    query = run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"])
    if query is None:
        return {"nvidia_smi": "absent"}
    name, driver, memory = [part.strip() for part in query.splitlines()[0].split(",")]
    header = run(["nvidia-smi"]) or ""
    cuda = re.search(r"CUDA Version:\s*([\d.]+)", header)
    return {"gpu": name, "driver": driver, "gpu_memory": memory, "cuda_driver_api": cuda and cuda.group(1)}


def jax_distributions() -> dict:
    names = sorted({d.metadata["Name"] for d in importlib.metadata.distributions() if d.metadata["Name"]})
    wanted = [n for n in names if n.lower().startswith("jax") or n.lower() in ("flax", "optax")]
    return {n: importlib.metadata.version(n) for n in wanted}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def torch_side(python: str) -> dict:
    out = run([python, "-c", TORCH_PROBE], timeout=120) if python else None
    if out is None:
        return {"torch": None, "torch_absent": f"{python or '(none)'} cannot import torch"}
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch-python", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "backend": jax.default_backend(),
        "device": jax.devices()[0].device_kind,
        "device_count": jax.device_count(),
        "versions": jax_distributions(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "git_commit": (run(["git", "-C", common.REPO, "describe", "--always", "--dirty"]) or "").strip(),
        **nvidia(),
        **torch_side(args.torch_python),
    }
    print(json.dumps(info, indent=1))
    common.write_json(args.out, info)


if __name__ == "__main__":
    main()
