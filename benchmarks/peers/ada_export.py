"""Runs NVlabs' ADA AugmentPipe on a few cases and writes inputs, random draws and outputs.

Run with a Python that has torch, beside (never inside) gan_jax:

    python benchmarks/peers/ada_export.py --checkout PATH/stylegan2-ada-pytorch \
        --out peer.npz --case xflip,rotate90,xint:0.6:32:3 --case brightness:1.0:16:1

A case is OPS[:P[:SIZE[:CHANNELS]]] (AugmentPipe op names, each with multiplier 1;
defaults 0.6, 32, 3). ``--checkout`` defaults to $STYLEGAN2_ADA_PYTORCH. Every
``torch.rand``/``torch.randn`` the pipe makes is recorded in call order, so that
gan_jax can replay the same draws (`gan_jax.augment.ada.augment_with`). For case i the
file holds, under the prefix ``case<i>.``:

* ``in.img`` (B, C, H, W) float32: images uniform in [−1, 1];
* ``out.img``: ``AugmentPipe(**{op: 1 for op in ops})`` at strength p applied to them;
* ``draw.<k>``: the k-th random tensor the pipe drew, in its own shape;
* ``draw_kinds``: 'uniform' or 'normal' for each of them (a unicode array);

and ``bank``, the pipe's image-space filter bank (``Hz_fbank``).

SciPy and requests are imported by the checkout but not needed here: without them, a
row-wise ``np.convolve`` stands in for the one ``scipy.signal.convolve`` call (a (4, n)
array with a (1, m) one) and requests is stubbed.
"""

import argparse
import os
import sys
import types

import numpy as np


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--checkout",
        default=os.environ.get("STYLEGAN2_ADA_PYTORCH", ""),
        help="stylegan2-ada-pytorch checkout (default: $STYLEGAN2_ADA_PYTORCH)",
    )
    p.add_argument("--out", required=True)
    p.add_argument("--case", action="append", required=True, help="OPS[:P[:SIZE[:CHANNELS]]]")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    return p.parse_args(argv)


def _stub_missing_modules() -> None:
    try:
        import requests  # noqa: F401
    except ImportError:  # dnnlib imports it only to download pickles
        sys.modules["requests"] = types.ModuleType("requests")
    try:
        import scipy.signal  # noqa: F401
    except ImportError:
        signal = types.ModuleType("scipy.signal")
        signal.convolve = lambda a, b: np.stack(
            [np.convolve(row, np.asarray(b, np.float64)[0]) for row in np.asarray(a)]
        )
        scipy = types.ModuleType("scipy")
        scipy.signal = signal
        sys.modules.update({"scipy": scipy, "scipy.signal": signal})


class _Recording:
    """Stands in for the torch module inside training.augment; records rand/randn."""

    def __init__(self, torch):
        self._torch, self.draws = torch, []

    def __getattr__(self, name):
        return getattr(self._torch, name)

    def rand(self, *args, **kwargs):
        out = self._torch.rand(*args, **kwargs)
        self.draws.append(("uniform", out))
        return out

    def randn(self, *args, **kwargs):
        out = self._torch.randn(*args, **kwargs)
        self.draws.append(("normal", out))
        return out


def parse_case(case: str) -> tuple[list[str], float, int, int]:
    fields = case.split(":")
    defaults = ["", "0.6", "32", "3"]
    fields += defaults[len(fields) :]
    return ([op for op in fields[0].split(",") if op], float(fields[1]), int(fields[2]), int(fields[3]))


def export(args) -> dict[str, np.ndarray]:
    _stub_missing_modules()
    sys.path.insert(0, os.path.abspath(args.checkout))
    import torch
    from training import augment

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    arrays = {}
    for i, case in enumerate(args.case):
        ops, p, size, channels = parse_case(case)
        recording = _Recording(torch)
        augment.torch = recording
        pipe = augment.AugmentPipe(**{op: 1 for op in ops})
        pipe.p.copy_(torch.as_tensor(p))
        img = rng.uniform(-1, 1, (args.batch, channels, size, size)).astype(np.float32)
        with torch.no_grad():
            out = pipe(torch.from_numpy(img))
        kinds = np.array([kind for kind, _ in recording.draws], dtype=str)
        arrays.update({f"case{i}.in.img": img, f"case{i}.out.img": out.numpy(), f"case{i}.draw_kinds": kinds})
        arrays.update({f"case{i}.draw.{k}": t.numpy() for k, (_, t) in enumerate(recording.draws)})
        arrays["bank"] = pipe.Hz_fbank.numpy()
    return arrays


def main(argv=None) -> None:
    args = parse_args(argv)
    if not args.checkout or not os.path.isdir(os.path.join(args.checkout, "training")):
        sys.exit(
            f"no stylegan2-ada-pytorch checkout at {args.checkout!r} (--checkout or $STYLEGAN2_ADA_PYTORCH)"
        )
    arrays = export(args)
    np.savez(args.out, **arrays)
    print(f"wrote {len(arrays)} arrays to {args.out}")


if __name__ == "__main__":
    main()
