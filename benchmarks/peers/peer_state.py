"""A peer loop's whole training state in one .npz, and back: what `train_peer.py` needs to
stop anywhere and go on as if it had not.

The state (``state.npz``): the networks (``G.*``, ``D.*``, ``G_ema.*``, as the loop's
``snapshot`` names them), each Adam's ``step``, ``exp_avg`` and ``exp_avg_sq`` by parameter
index (``opt<i>.<j>.<name>``; NVlabs' main and regularization phases share one Adam per
network), the path-length mean, ADA's p and the tally of D's signs that ADA's next
adjustment reads (``tally.<name>``: NVlabs' ``training_stats`` counters reported since the
last adjustment), the image and batch counters and torch's generator.
"""

import os

import numpy as np


def _optimizers(loop) -> list:
    """Each network's Adam once (NVlabs' main and reg phases share theirs)."""
    found = []
    for phase in loop.phases:
        if not any(phase["opt"] is opt for opt in found):
            found.append(phase["opt"])
    return found


def save_state(loop, path: str) -> None:
    """Everything `load_state` needs to go on, as one .npz written atomically."""
    import torch

    out = {**loop.snapshot("")}
    for i, opt in enumerate(_optimizers(loop)):
        for j, param in enumerate(p for group in opt.param_groups for p in group["params"]):
            for name, value in opt.state.get(param, {}).items():
                out[f"opt{i}.{j}.{name}"] = np.asarray(
                    value.detach().cpu().numpy() if torch.is_tensor(value) else value
                )
    if getattr(loop, "loss", None) is not None and hasattr(loop.loss, "pl_mean"):
        out["pl_mean"] = loop.loss.pl_mean.detach().cpu().numpy().copy()
    if loop.augment_pipe is not None:
        out["aug_p"] = np.array(loop.augment_pipe.p.detach().cpu().numpy())
    out.update(_tally(loop))
    out["cur_nimg"] = np.int64(loop.cur_nimg)
    out["batch_idx"] = np.int64(getattr(loop, "batch_idx", loop.cur_nimg // loop.args.batch))
    out["rng"] = torch.get_rng_state().numpy()
    tmp = path + ".tmp.npz"
    np.savez(tmp, **out)
    os.replace(tmp, path)


def load_state(loop, path: str) -> None:
    """The loop as `save_state` saved it."""
    import torch

    with np.load(path, allow_pickle=False) as f:
        state = dict(f)
    for prefix, module in (("G.", loop.g), ("D.", loop.d), ("G_ema.", loop.g_ema)):
        load_module(module, state, prefix)
    for i, opt in enumerate(_optimizers(loop)):
        for j, param in enumerate(p for group in opt.param_groups for p in group["params"]):
            names = [k.split(".", 2)[2] for k in state if k.startswith(f"opt{i}.{j}.")]
            if names:
                opt.state[param] = {n: torch.from_numpy(state[f"opt{i}.{j}.{n}"]).clone() for n in names}
    if "pl_mean" in state:
        loop.loss.pl_mean.copy_(torch.from_numpy(state["pl_mean"]))
    if "aug_p" in state:
        loop.augment_pipe.p.copy_(torch.from_numpy(state["aug_p"]))
    _restore_tally(loop, state)
    loop.cur_nimg = int(state["cur_nimg"])
    if hasattr(loop, "batch_idx"):
        loop.batch_idx = int(state["batch_idx"])
    torch.set_rng_state(torch.from_numpy(state["rng"]))


def _tally(loop) -> dict[str, np.ndarray]:
    """NVlabs' counters not yet read by ADA's collector (pending since its last update)."""
    if getattr(loop, "ada_stats", None) is None:
        return {}
    from torch_utils import training_stats

    out = {}
    for name in loop.ada_stats.names():
        counters = [c.detach().cpu().numpy() for c in training_stats._counters[name].values()]
        out[f"tally.{name}"] = np.sum(counters, axis=0)
    return out


def _restore_tally(loop, state: dict) -> None:
    if getattr(loop, "ada_stats", None) is None:
        return
    import torch
    from torch_utils import training_stats

    for key, value in state.items():
        if key.startswith("tally."):
            name = key[len("tally.") :]
            training_stats._counters[name] = {loop.device: torch.from_numpy(value).to(loop.device)}


def load_module(module, arrays: dict[str, np.ndarray], prefix: str) -> None:
    """``module``'s state dict from the arrays named ``prefix*`` (every tensor, strictly)."""
    import torch

    module.load_state_dict(
        {k[len(prefix) :]: torch.from_numpy(v) for k, v in arrays.items() if k.startswith(prefix)}
    )


def adam_moments(loop) -> dict[str, np.ndarray]:
    """Each network's Adam state by parameter name (where ``save_state`` keys it by index):
    ``adam.<phase>.exp_avg.<name>``, ``adam.<phase>.exp_avg_sq.<name>``, ``adam.<phase>.step``."""
    out = {}
    for phase in loop.phases:
        for name, param in phase["module"].named_parameters():
            for key, value in phase["opt"].state.get(param, {}).items():
                value = value.detach().cpu().numpy() if hasattr(value, "detach") else value
                value = np.array(value)  # a copy: Adam updates its tensors in place
                out[f"adam.{phase['name']}.{key}" + ("" if key == "step" else f".{name}")] = value
    return out
