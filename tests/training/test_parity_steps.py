"""Whole training steps against the references' own loops: from the same weights, on the same
real batches, with every random number the same (z, classes, style-mixing cut-offs,
per-pixel noise, path-length noise, every augmentation parameter: `tests/training/step_draws.py`),
K consecutive steps of gan_jax's production step (`build.Run.stepper`) against

* NVlabs' stylegan2-ada-pytorch: its ``StyleGAN2Loss``, ``AugmentPipe``, Adam with the
  lazy c-scaling, EMA with ramp-up and ADA's tally and step, in its loop's order
  (`benchmarks/peers/stylegan2_steps.py`);
* brownvc/R3GAN: its ``R3GANLoss``, augmentation and schedules (learning rate, β₂, γ, EMA
  length, augmentation probability) computed by its own ``cosine_decay_with_warmup``
  (`benchmarks/peers/r3gan_steps.py`),

compared after every step: every parameter of G, D and the EMA generator within 1% of one
Adam step (|Δ| ≤ 0.01 · the step's learning rate, lazy scaling included), every carried
scalar (w̄, the path-length mean, ADA's p) within 1e-5 relative.

Needs, named by environment variables (each test skips, saying which is absent):

    GAN_JAX_TORCH_PYTHON   a Python with torch and numpy
    STYLEGAN2_ADA_PYTORCH  a checkout of github.com/NVlabs/stylegan2-ada-pytorch
    R3GAN_CHECKOUT         a checkout of github.com/brownvc/R3GAN
    GAN_JAX_R3GAN_CURVE_RUN  (one test) the folder of a brownvc job of
                           `benchmarks/training_curves.py`, to start from its trained state
"""

import json
import os
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import peer_env
import step_draws
from conftest import REPO, load_config, synthetic_images

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import peer_loops  # noqa: E402
from gan_jax import parallel
from gan_jax.training import build
from gan_jax.convert import r3gan as convert_r3gan
from gan_jax.convert import stylegan2 as cv
from gan_jax.data import pipeline as data
from gan_jax.data import sources as datasets
from gan_jax.training import schedules
from gan_jax.training.phases import lazy_interval, optimizer_scale
from gan_jax.training.state import ema_decay

PEERS = {"nvlabs": "stylegan2_steps.py", "r3gan": "r3gan_steps.py"}
STEPS = 6
CURVE_STEPS = 4  # the R3GAN case at the training curves' sizes
ADAM_STEP_FRACTION, SCALAR_RTOL = 0.01, 1e-5
# Adam moves a parameter by lr·g/(|g| + ε) (β₁ = 0, first step): where |g| is within an order
# of magnitude of ε, the step is decided by the gradient's float32 rounding. At the presets'
# ε = 1e-8 one of 256 elements of a 4×4 constant had |g| = 3e-8 in the conditional case,
# and rounding at 5e-5 of the gradient's scale moved its step by 2.4% of lr on both sides'
# own correct arithmetic. Both sides run with ε = 1e-12 instead, so that no gradient sits there.
ADAM_EPS = 1e-12


def _skip_without(peer: str):
    reason = peer_env.missing(peer)
    return pytest.mark.skipif(bool(reason), reason=f"peer absent: {reason}")


def _dataset(tmp_path, size: int, channels: int, classes: int) -> str:
    path = str(tmp_path / f"squares{size}x{channels}.npz")
    images, labels = synthetic_images(n=64, size=28, channels=channels)
    np.savez(path, images=images, labels=labels % max(classes, 1))
    return path


# ---------------------------------------------------------------------------------------------
# StyleGAN2 against NVlabs


def stylegan2_config(tmp_path, conditional: bool, microbatches: int = 1):
    """The StyleGAN2 presets at 16 px and 16 channels, batch 8, with every lazy interval and
    ADA's adjustment inside six steps: fashion_mnist's (1 channel, residual D, style mixing,
    path length) or cifar10's (3 channels, 5 classes, 'orig' D, neither)."""
    config = load_config("stylegan2_cifar10" if conditional else "stylegan2_fashion_mnist")
    channels, classes = (3, 5) if conditional else (1, 0)
    path = _dataset(tmp_path, 16, channels, classes)
    config.dataset.update(source="npz", path=path, resolution=16, channels=channels, resize="resize")
    config.model.update(num_classes=classes, z_dim=16)
    config.model.stylegan2.update(w_dim=16, channel_base=128, channel_max=16, mbstd_group=4)
    config.regularizer.update(r1_gamma=0.5, r1_every=3)
    if not conditional:
        config.regularizer.pl_every = 2
    config.augment.update(kind="ada", ada_pipeline="bgc", ada_p=0.3, ada_interval=2, ada_kimg=0.08)
    config.ema.update(half_life_kimg=0.04, rampup=0.5)
    config.update(batch_size=8, microbatches=microbatches, num_steps=STEPS)
    for side in ("g", "d"):
        config.optimizer[side].eps = ADAM_EPS
    return config


def run_peer(peer: str, plan: dict, tmp_path, flags=(), tag: str = "") -> dict[str, np.ndarray]:
    plan_path, out = str(tmp_path / f"{peer}_plan.npz"), str(tmp_path / f"{peer}{tag}_out.npz")
    np.savez(plan_path, **plan)
    args = ["--checkout", peer_env.CHECKOUTS[peer], "--plan", plan_path, "--out", out, *flags]
    peer_loops.run_peer(peer_env.TORCH_PYTHON, PEERS[peer], args, timeout=900)
    with np.load(out, allow_pickle=False) as f:
        return dict(f)


def _host_batches(run, steps: int) -> list[dict]:
    dataset = datasets.load_dataset(run.config.dataset)
    return [jax.device_get(b) for b in data.batches(dataset, run.config, run.mesh, 0, steps)]


def _worst(ours, theirs, unit: float) -> tuple[str, float]:
    """(path, max |Δ| / unit) of the leaf that differs most."""
    flat_ours = jax.tree_util.tree_flatten_with_path(ours)[0]
    flat_theirs = dict(jax.tree_util.tree_flatten_with_path(theirs)[0])
    worst = ("", 0.0)
    for path, a in flat_ours:
        b = flat_theirs[path]
        assert np.shape(a) == np.shape(b), jax.tree_util.keystr(path)
        err = float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) / unit if np.size(a) else 0.0
        worst = max(worst, (jax.tree_util.keystr(path), err), key=lambda x: x[1])
    return worst


def _rel(a, b, floor: float = 1e-12) -> float:
    """max |a − b| / max(max |b|, floor)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), floor))


def _report(rows: list[dict]) -> str:
    lines = []
    for row in rows:
        nets = ", ".join(f"{n} {p} {e:.4f}" for n, (p, e) in row["worst"].items())
        scalars = ", ".join(f"{k} {v:.1e}" for k, v in row["scalars"].items())
        lines.append(f"step {row['step']}: worst |Δ|/(lr): {nets}; scalars rel: {scalars}")
    return "\n".join(lines)


def _check(rows: list[dict]) -> None:
    print("\n" + _report(rows))
    bad = [
        (row["step"], name, worst)
        for row in rows
        for name, worst in row["worst"].items()
        if worst[1] > ADAM_STEP_FRACTION
    ]
    bad += [(row["step"], k, v) for row in rows for k, v in row["scalars"].items() if v > SCALAR_RTOL]
    assert not bad, f"over tolerance: {bad}\n{_report(rows)}"


def stylegan2_rows(run, peer: dict, batches: list[dict]) -> list[dict]:
    """Steps gan_jax from NVlabs' initial weights and compares each step's state."""
    config = run.config
    init = {k[len("init.") :]: v for k, v in peer.items() if k.startswith("init.")}
    state, _ = cv.state_from_state_dict(run, init)
    stepper = run.stepper()
    units = {
        net: config.optimizer[net].learning_rate * optimizer_scale(lazy_interval(run.phases, net))
        for net in ("g", "d")
    }
    rows = []
    for t, batch in enumerate(batches):
        batch = data.to_global(batch, run.mesh, config.batch_size)
        state, _ = stepper(state, batch, run.keys["train"], t)
        host = jax.device_get(state)
        g, g_vars = cv.convert(peer, f"t{t}.G.", run.g_model)
        ema, _ = cv.convert(peer, f"t{t}.G_ema.", run.g_model)
        d, _ = cv.convert(peer, f"t{t}.D.", run.d_model, config.dataset.channels)
        worst = {
            "G": _worst(host.g_params, g, units["g"]),
            "D": _worst(host.d_params, d, units["d"]),
            "G_ema": _worst(host.ema_params, ema, units["g"]),
        }
        scalars = {
            "w_avg": _rel(
                host.g_vars["w_avg"]["mapping_network"]["w_avg"], g_vars["w_avg"]["mapping_network"]["w_avg"]
            )
        }
        if "path_length" in host.aux:
            scalars["pl_mean"] = _rel(host.aux["path_length"]["mean"], peer[f"t{t}.pl_mean"])
        if "ada" in host.aux:
            scalars["ada_p"] = _rel(host.aux["ada"]["p"], peer[f"t{t}.ada_p"])
        rows.append(dict(step=t, worst=worst, scalars=scalars))
    return rows


STYLEGAN2_CASES = {
    "uncond-ada": dict(conditional=False),
    "cond-ada": dict(conditional=True),
    "uncond-ada-2devices": dict(conditional=False, devices=2),
    "uncond-ada-2microbatches": dict(conditional=False, microbatches=2),
}


@_skip_without("nvlabs")
@pytest.mark.parametrize("case", list(STYLEGAN2_CASES))
def test_stylegan2_steps_equal_nvlabs(case, tmp_path):
    spec = dict(STYLEGAN2_CASES[case])
    devices = spec.pop("devices", 1)
    config = stylegan2_config(tmp_path, **spec)
    run = build.build(config, parallel.create_mesh(jax.devices()[:devices]))
    batches = _host_batches(run, STEPS)
    variables = {"params": run.init_state().g_params, **run.init_state().g_vars}
    plan = {"meta": np.array(json.dumps(peer_loops.nvlabs_meta(config, STEPS)))}
    for t, batch in enumerate(batches):
        plan.update(step_draws.step_plan(run, variables, batch, t))
    peer = run_peer("nvlabs", plan, tmp_path)
    _check(stylegan2_rows(run, peer, batches))


# ---------------------------------------------------------------------------------------------
# R3GAN against brownvc


def r3gan_config(tmp_path, conditional: bool, curve: bool = False):
    """The R3GAN preset at 16 px (3 stages of 16 channels, 2 groups, 1 block), batch 8, with
    every schedule over the six steps (48 images) so each value moves at every step: the
    Fashion-MNIST preset's numbers, with RGB images (R3GAN's networks have three channels),
    and for the conditional case 5 classes and the 'bgcc' augmentation scheduled to 0.5.
    ``curve``: instead the networks, batch and Adam ε (1e-8) of the training curves
    (`benchmarks/training_curves.py`): the preset itself at 32 px."""
    classes = 5 if conditional else 0
    config = load_config("r3gan_fashion_mnist")
    size = 32 if curve else 16
    path = _dataset(tmp_path, size, 3, classes)
    config.dataset.update(source="npz", path=path, resolution=size, channels=3, resize="resize")
    if curve:  # four steps: rounding grows here as a 1e-7 change to the weights does (×2.5 in three steps)
        config.schedule.kimg = config.batch_size * CURVE_STEPS / 1000
        config.update(num_steps=CURVE_STEPS)
        return config
    config.model.update(num_classes=classes, z_dim=16)
    config.model.r3gan.update(stage_widths=(16, 16, 16), stage_groups=(2, 2, 2), stage_blocks=(1, 1, 1))
    config.regularizer.update(r1_gamma=0.5, final_r1_gamma=0.05, r2_gamma=0.5, final_r2_gamma=0.05)
    config.ema.update(half_life_kimg=0.0, final_half_life_kimg=0.02)
    config.schedule.kimg = 8 * STEPS / 1000
    if conditional:
        config.augment.update(kind="ada", ada_pipeline="bgcc", ada_target=0.0, ada_p=0.0, final_ada_p=0.5)
    config.update(batch_size=8, num_steps=STEPS)
    for side in ("g", "d"):
        config.optimizer[side].eps = ADAM_EPS
    return config


def _starting_state(run, peer: dict):
    """gan_jax's state holding the networks brownvc started from (``init.*``)."""
    init = {k[len("init.") :]: v for k, v in peer.items() if k.startswith("init.")}
    return cv.state_from_state_dict(run, init, convert_r3gan.convert)[0]


def _r3gan_nets(run, out: dict, t: int) -> dict:
    """{'G', 'D', 'G_ema'}: the peer's networks after step t, as gan_jax parameters."""
    models = {"G": run.g_model, "D": run.d_model, "G_ema": run.g_model}
    return {net: convert_r3gan.convert(out, f"t{t}.{net}.", model)[0] for net, model in models.items()}


def r3gan_rows(run, peer: dict, batches: list[dict], state=None, start: int = 0) -> list[dict]:
    """Steps gan_jax from brownvc's initial weights (or ``state``, at step ``start``) and
    compares each step's state and the scheduled values each step used."""
    config = run.config
    state = _starting_state(run, peer) if state is None else state
    stepper = run.stepper()
    rows = []
    for t, batch in enumerate(batches, start):
        batch = data.to_global(batch, run.mesh, config.batch_size)
        p = float(state.aux["ada"]["p"]) if "ada" in state.aux else 0.0
        state, metrics = stepper(state, batch, run.keys["train"], t)
        host = jax.device_get(state)
        lr = float(metrics["d_learning_rate"])
        ours = {"G": host.g_params, "D": host.d_params, "G_ema": host.ema_params}
        theirs = _r3gan_nets(run, peer, t)
        worst = {net: _worst(ours[net], theirs[net], lr) for net in ours}
        reg = config.regularizer
        scalars = {
            "lr": _rel(metrics["g_learning_rate"], peer[f"t{t}.lr"]),
            "beta2": _rel(metrics["d_b2"], peer[f"t{t}.beta2"]),
            "gamma": _rel(
                schedules.value(config, reg.r1_gamma, reg.final_r1_gamma, jnp.asarray(t)), peer[f"t{t}.gamma"]
            ),
            "ema_beta": _rel(ema_decay(config, jnp.asarray(t)), peer[f"t{t}.ema_beta"], floor=1e-6),
            "aug_p": _rel(p, peer[f"t{t}.aug"], floor=1e-6),
        }
        rows.append(dict(step=t, worst=worst, scalars=scalars))
    return rows


R3GAN_CASES = {
    "uncond": dict(conditional=False),
    "cond-aug": dict(conditional=True),
    "curve": dict(conditional=False, curve=True),
}


@_skip_without("r3gan")
@pytest.mark.parametrize("case", list(R3GAN_CASES))
def test_r3gan_steps_equal_brownvc(case, tmp_path):
    config = r3gan_config(tmp_path, **R3GAN_CASES[case])
    run = build.build(config, parallel.create_mesh(jax.devices()[:1]))
    batches = _host_batches(run, config.num_steps)
    assert batches[0]["image"].shape[0] == 2  # D's real batch and G's own
    plan = {"meta": np.array(json.dumps(peer_loops.r3gan_meta(config, config.num_steps)))}
    for t, batch in enumerate(batches):
        plan.update(step_draws.step_plan(run, {}, batch, t))
    peer = run_peer("r3gan", plan, tmp_path)
    _check(r3gan_rows(run, peer, batches))


# ---------------------------------------------------------------------------------------------
# R3GAN against brownvc from a trained state

TRAINED_STEPS, ROUNDING = 5, 1e-7


def _with_adam(opt_state, peer: dict, name: str, model):
    """``opt_state`` with Adam's moments and count replaced by brownvc's for network ``name``."""
    import optax

    mu = convert_r3gan.convert(peer, f"adam.{name}.exp_avg.", model)[0]
    nu = convert_r3gan.convert(peer, f"adam.{name}.exp_avg_sq.", model)[0]
    count = jnp.asarray(int(peer[f"adam.{name}.step"]), jnp.int32)
    is_adam = lambda node: isinstance(node, optax.ScaleByAdamState)  # noqa: E731
    found = [node for node in jax.tree_util.tree_leaves(opt_state, is_leaf=is_adam) if is_adam(node)]
    assert len(found) == 1, f"expected one Adam state in {type(opt_state).__name__}, found {len(found)}"
    swap = lambda node: node._replace(count=count, mu=mu, nu=nu) if is_adam(node) else node  # noqa: E731
    return jax.tree_util.tree_map(swap, opt_state, is_leaf=is_adam)


def trained_state(run, peer: dict, start: int):
    """gan_jax's state from brownvc's: G, D, G_ema, both Adams, the step count."""
    state = _starting_state(run, peer)
    return state.replace(
        step=jnp.asarray(start, state.step.dtype),
        g_opt_state=_with_adam(state.g_opt_state, peer, "G", run.g_model),
        d_opt_state=_with_adam(state.d_opt_state, peer, "D", run.d_model),
    )


def _curve_run_config(tmp_path, job: dict, steps: int):
    """The curve case's config on the job's images, its schedules over the job's length."""
    config = r3gan_config(tmp_path, conditional=False, curve=True)
    config.dataset.update(path=job["images"], name="curve_images")
    config.schedule.kimg = job["meta"]["decay_nimg"] / 1000
    config.update(num_steps=steps)
    expected = json.loads(json.dumps(peer_loops.r3gan_meta(config, job["meta"]["steps"])))
    differ = [k for k in expected if k != "seed" and expected[k] != job["meta"][k]]
    assert not differ, f"the job is not the curve case's: {differ} differ"
    return config


def _job_batches(job: dict, start: int, steps: int) -> list[dict]:
    """The job's real batches (D's, G's own) of steps start, start + 1, … ."""
    order = np.load(job["order"], allow_pickle=False)
    with np.load(job["images"], allow_pickle=False) as f:
        images, labels = f["images"], f["labels"].astype(np.int32)
    return [dict(image=images[order[t]], label=labels[order[t]]) for t in range(start, start + steps)]


def _rounding_rows(run, peer: dict, moved: dict, start: int, steps: int) -> list[dict]:
    """Per step, how far brownvc's own run moves when its weights start 1e-7 away."""
    rows = []
    for t in range(start, start + steps):
        ours, theirs = _r3gan_nets(run, moved, t), _r3gan_nets(run, peer, t)
        worst = {net: _worst(ours[net], theirs[net], float(peer[f"t{t}.lr"])) for net in ours}
        rows.append(dict(step=t, worst=worst, scalars={}))
    return rows


@_skip_without("r3gan")
@pytest.mark.skipif(bool(peer_env.curve_run_missing()), reason=peer_env.curve_run_missing())
def test_r3gan_steps_from_a_trained_state_equal_brownvc(tmp_path):
    """Five steps from a curve run's late, trained state (its networks, G_ema and Adam's
    moments; the schedules at 80% of the run) at the curves' sizes and ε 1e-8. The first step
    within 1% of an Adam step; every step within twice what brownvc's own run moves when
    its weights start a float32 rounding (1e-7 relative) away, or 1% of a step."""
    job = peer_env.curve_run_job()
    config = _curve_run_config(tmp_path, job, TRAINED_STEPS)
    run = build.build(config, parallel.create_mesh(jax.devices()[:1]))
    start = int(0.8 * job["meta"]["steps"])
    batches = _job_batches(job, start, TRAINED_STEPS)
    meta = {**job["meta"], "steps": TRAINED_STEPS}
    plan = {"meta": np.array(json.dumps(meta)), "start": np.int64(start)}
    for t, batch in enumerate(batches, start):
        plan.update(step_draws.step_plan(run, {}, batch, t))
    state_flag = ["--state", peer_env.curve_run_state()]
    peer = run_peer("r3gan", plan, tmp_path, state_flag)
    moved = run_peer("r3gan", plan, tmp_path, [*state_flag, "--perturb", str(ROUNDING)], tag="_moved")
    rows = r3gan_rows(run, peer, batches, trained_state(run, peer, start), start)
    rounding = _rounding_rows(run, peer, moved, start, TRAINED_STEPS)
    print("\ngan_jax against brownvc:\n" + _report(rows))
    print("brownvc against itself, weights moved 1e-7:\n" + _report(rounding))
    _check(rows[:1])
    too_far = [
        (row["step"], net, worst, ref["worst"][net][1])
        for row, ref in zip(rows, rounding)
        for net, worst in row["worst"].items()
        if worst[1] > max(ADAM_STEP_FRACTION, 2 * ref["worst"][net][1])
    ]
    assert not too_far, too_far
    assert all(v <= SCALAR_RTOL for row in rows for v in row["scalars"].values())
