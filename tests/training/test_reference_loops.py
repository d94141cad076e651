"""The training loops of the references, each point where they order or count things,
checked against a hand computation on tiny networks: NVlabs' stylegan2-ada-pytorch
(phases G first, EMA ramp-up from the images before the step, w̄ moved by every mapping
pass, ADA's tally and step) and brownvc/R3GAN (G's phase on a real batch of its own).
`tests/training/test_parity_steps.py` runs whole steps against the references' own code."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import load_config, synthetic_images
from gan_jax.training import accumulate
from gan_jax.training import build
from gan_jax.data import pipeline as data
from gan_jax.data import sources as datasets
from gan_jax.training import keys as keys_lib
from gan_jax.training import state as state_lib
from gan_jax.training import train_step as ts
from gan_jax.config import real_batches_per_step, validate
from gan_jax.errors import ConfigError
from gan_jax.models.stylegan2.mapping import lerp


@pytest.fixture
def sg_config(tmp_path_factory):
    """configs/stylegan2_fashion_mnist.py (NVlabs' loop) at 8 px, 8 channels, batch 8."""
    path = str(tmp_path_factory.mktemp("data") / "squares8.npz")
    images, labels = synthetic_images(n=64)
    np.savez(path, images=images, labels=labels)
    config = load_config("stylegan2_fashion_mnist")
    config.dataset.update(source="npz", path=path, resolution=8, resize="resize")
    config.model.update(z_dim=8)
    config.model.stylegan2.update(w_dim=8, channel_base=64, channel_max=8, mbstd_group=2, w_avg_beta=0.5)
    config.regularizer.update(r1_every=2, pl_every=2)
    config.update(batch_size=8, num_steps=4, lazy_dispatch="cond")
    return config


@pytest.fixture
def r3_config(tmp_path_factory):
    """configs/r3gan_fashion_mnist.py (brownvc's loop) at 8 px, 8 channels, batch 8."""
    path = str(tmp_path_factory.mktemp("data") / "squares8.npz")
    images, labels = synthetic_images(n=64)
    np.savez(path, images=images, labels=labels)
    config = load_config("r3gan_fashion_mnist")
    config.dataset.update(source="npz", path=path, resolution=8, resize="resize")
    config.model.update(z_dim=8)
    config.model.r3gan.update(stage_widths=(8, 8), stage_groups=(1, 1), stage_blocks=(1, 1))
    config.update(batch_size=8, num_steps=4)
    return config


def _first_batch(run):
    dataset = datasets.load_dataset(run.config.dataset)
    return data.to_global(data.host_batch(dataset, run.config, 0), run.mesh, run.config.batch_size)


def _phase_by_phase(run, state, batch):
    """The step's phases run one at a time (each compiled alone), with the states between
    them: [(phase, its inputs, state before, state after)]."""
    config, models = run.config, run.models()
    keys = keys_lib.step_keys(run.keys["train"], state.step, config.n_critic)
    images = keys_lib.to_float_images(batch["image"])
    txs = {"d": run.d_tx, "g": run.g_tx}
    out = []
    for phase in run.phases:
        if phase.every > 1 and int(state.step) % phase.every:
            continue
        inputs = ts.phase_inputs(config, phase, keys, images, batch["label"], state.aux)
        after, _ = jax.jit(lambda s: ts.run_phase(phase, models, txs[phase.network], s, inputs))(state)
        out.append((phase, inputs, state, after))
        state = after
    return out


def _close(a, b, rtol=1e-6, atol=1e-7) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.allclose(x, y, rtol=rtol, atol=atol) for x, y in zip(la, lb))


# ---------------------------------------------------------------------------------------------
# Phase order


def test_stylegan2_presets_take_nvlabs_order_and_the_others_keep_theirs(sg_config, r3_config):
    names = lambda c: [p.name for p in build.build(c).phases]  # noqa: E731
    assert names(sg_config) == ["G main", "G reg", "D main", "D reg"]
    assert names(r3_config) == ["D main", "G main"]
    for preset in ("dcgan_fashion_mnist", "sngan_cifar10", "biggan_cifar10", "r3gan_cifar10"):
        assert load_config(preset).phase_order == "d_first", preset
    for preset in ("stylegan2_fashion_mnist", "stylegan2_cifar10", "stylegan2_ffhq256", "stylegan2_ffhq1024"):
        config = load_config(preset)
        assert (config.phase_order, config.model.stylegan2.w_avg_update) == ("g_first", "every_pass"), preset
    sg_config.phase_order = "d_first"
    assert names(sg_config) == ["D main", "D reg", "G main", "G reg"]
    sg_config.phase_order = "random"
    with pytest.raises(ConfigError, match="phase_order='random' must be one of d_first, g_first"):
        validate(sg_config)


@pytest.mark.parametrize("order", ["g_first", pytest.param("d_first", marks=pytest.mark.slow)])
def test_the_step_runs_its_phases_in_the_configured_order(sg_config, order):
    """One whole step equals its phases run one after another in ``phase_order``: with
    'g_first' G's update is taken against the D the step started with (NVlabs), with
    'd_first' against the D this step updated."""
    sg_config.phase_order = order
    run = build.build(sg_config)
    state, batch = run.init_state(), _first_batch(run)
    chain = _phase_by_phase(run, state, batch)
    g_main = next(c for c in chain if c[0].name == "G main")
    d_before_g = g_main[2].d_params
    assert _close(d_before_g, state.d_params) == (order == "g_first")
    stepped, _ = run.train_step()(jax.device_get(state), batch, run.keys["train"])
    final = chain[-1][3]
    for field in ("g_params", "d_params", "g_vars", "g_opt_state", "d_opt_state"):
        assert _close(getattr(stepped, field), getattr(final, field), rtol=1e-5, atol=1e-6), field


# ---------------------------------------------------------------------------------------------
# EMA ramp-up


def test_ema_rampup_counts_the_images_seen_before_the_step():
    """NVlabs: ema_nimg = min(ema_kimg·1000, cur_nimg·rampup), cur_nimg = t·B before step t,
    β = 0.5^(B / ema_nimg): the first update copies G (β = 0)."""
    config = load_config("stylegan2_fashion_mnist")  # half-life 10 kimg, ramp-up 0.05, batch 32
    for t, nimg in ((0, 0.0), (1, 32 * 0.05), (100, 3200 * 0.05), (10_000, 10_000.0)):
        want = 0.5 ** (32 / max(nimg, 1e-8))
        got = float(state_lib.ema_decay(config, jnp.asarray(t)))
        assert got == pytest.approx(want, rel=1e-6, abs=1e-30), t


def test_the_first_step_leaves_the_ema_generator_equal_to_g(sg_config):
    run = build.build(sg_config)
    stepped, _ = run.train_step()(run.init_state(), _first_batch(run), run.keys["train"])
    for e, g in zip(jax.tree.leaves(stepped.ema_params), jax.tree.leaves(stepped.g_params)):
        np.testing.assert_array_equal(e, g)


# ---------------------------------------------------------------------------------------------
# w̄, the centre of truncation


def _w_avg(vars_) -> np.ndarray:
    return np.asarray(vars_["w_avg"]["mapping_network"]["w_avg"])


@pytest.mark.parametrize("mode", ["every_pass", "g_main"])
def test_w_avg_moves_in_every_mapping_pass_or_in_g_main_only(sg_config, mode):
    """'every_pass' (NVlabs): each phase that runs G's mapping in training — G main on its
    z, G reg on the first B/shrink rows of its own, D main on its generated batch — moves
    w̄ ← lerp(mean w, w̄, β) with G's parameters as that phase found them; D reg runs no G.
    'g_main': G main alone moves it."""
    sg_config.model.stylegan2.w_avg_update = mode
    run = build.build(sg_config)
    state = run.init_state()
    state = state.replace(
        g_vars={**state.g_vars, "w_avg": jax.tree.map(lambda w: w + 0.3, state.g_vars["w_avg"])}
    )
    chain = _phase_by_phase(run, state, _first_batch(run))
    assert [c[0].name for c in chain] == ["G main", "G reg", "D main", "D reg"]
    shrink = sg_config.regularizer.pl_batch_shrink
    for phase, inputs, before, after in chain:
        rows = sg_config.batch_size // shrink if phase.name == "G reg" else sg_config.batch_size
        moves = phase.name == "G main" or (mode == "every_pass" and phase.name in ("G reg", "D main"))
        if not moves:
            np.testing.assert_array_equal(_w_avg(after.g_vars), _w_avg(before.g_vars), err_msg=phase.name)
            continue
        variables = {"params": before.g_params, **before.g_vars}
        ws = run.g_model.apply(variables, inputs.z[:rows], inputs.fake_y[:rows], method="mapping")
        want = lerp(jnp.mean(ws[:, 0], axis=0), _w_avg(before.g_vars), sg_config.model.stylegan2.w_avg_beta)
        assert np.abs(want - _w_avg(before.g_vars)).max() > 0.01  # a move the check can see
        np.testing.assert_allclose(_w_avg(after.g_vars), want, rtol=1e-5, atol=1e-6, err_msg=phase.name)


# ---------------------------------------------------------------------------------------------
# ADA: the tally and the step


def test_ada_tallies_d_reals_in_main_and_lazy_r1_and_steps_by_the_images_shown(sg_config):
    """NVlabs reports sign(D(x)) in Dmain and in Dreg's R1 pass; p moves by
    batch·interval/(kimg·1000) per adjustment, bounded below only."""
    sg_config.augment.update(kind="ada", ada_p=0.0, ada_target=-1.0, ada_interval=3, ada_kimg=0.01)
    run = build.build(sg_config)
    assert [t.name for t in run.phases[-1].terms] == ["r1", "ada"]
    state, step = run.init_state(), run.stepper()
    dataset = datasets.load_dataset(sg_config.dataset)
    counts = []
    for t, batch in enumerate(data.batches(dataset, sg_config, run.mesh, 0, 3)):
        state, metrics = step(state, batch, run.keys["train"], t)
        counts.append(float(state.aux["ada"]["count"]))
    b = sg_config.batch_size
    # steps 0 (D reg due: 2B), 1 (B); at step 2 the tally (3B + 2B) was used and reset
    assert counts == [2.0 * b, 3.0 * b, 0.0]
    # target −1: any tally is over it, so p rises by 8·3/10 = 2.4, past 1
    assert float(state.aux["ada"]["p"]) == pytest.approx(b * 3 / 10.0)


@pytest.mark.slow
def test_ada_without_a_lazy_r1_tallies_the_main_phase_only(sg_config):
    sg_config.augment.update(kind="ada", ada_interval=100)
    sg_config.regularizer.r1_every = 1
    run = build.build(sg_config)
    assert all(t.name != "ada" for p in run.phases if p.every > 1 for t in p.terms)
    stepped, _ = run.train_step()(run.init_state(), _first_batch(run), run.keys["train"])
    assert float(stepped.aux["ada"]["count"]) == sg_config.batch_size


# ---------------------------------------------------------------------------------------------
# R3GAN: G's own real batch


def test_r3gan_reads_two_real_batches_per_step_d_first_then_g(r3_config):
    """brownvc's loop fetches D's batch, then G's: positions [2tB, 2tB + B) and
    [2tB + B, 2(t+1)B) of the stream."""
    assert (r3_config.loss.g_real_batch, real_batches_per_step(r3_config)) == ("own", 2)
    dataset = datasets.load_dataset(r3_config.dataset)
    batch = data.host_batch(dataset, r3_config, 3)
    b = r3_config.batch_size
    positions = data.stream_indices(r3_config.seed, 3 * 2 * b, 2 * b, len(dataset))
    images, _ = data.data_order.read_examples(dataset, positions, False)
    np.testing.assert_array_equal(batch["image"].reshape(2 * b, *images.shape[1:]), images)


@pytest.mark.parametrize("g_real_batch", ["own", "shared"])
def test_r3gan_g_phase_pairs_with_its_own_real_batch(r3_config, g_real_batch):
    """With 'own', changing G's real batch changes G's update and leaves D's (D goes first
    on batch 0); with 'shared' there is one batch and G pairs with it."""
    r3_config.loss.g_real_batch = g_real_batch
    run = build.build(r3_config)
    state, batch = run.init_state(), _first_batch(run)
    assert batch["image"].shape[0] == (2 if g_real_batch == "own" else 1)
    step = run.train_step()
    one, _ = step(jax.device_get(state), batch, run.keys["train"])
    flipped = {"image": batch["image"].at[-1].set(batch["image"][-1, :, ::-1]), "label": batch["label"]}
    two, _ = step(jax.device_get(state), flipped, run.keys["train"])
    same_d = all(
        np.array_equal(a, b) for a, b in zip(jax.tree.leaves(one.d_params), jax.tree.leaves(two.d_params))
    )
    assert same_d == (g_real_batch == "own")
    assert not all(
        np.array_equal(a, b) for a, b in zip(jax.tree.leaves(one.g_params), jax.tree.leaves(two.g_params))
    )


def test_an_own_g_batch_needs_a_loss_that_reads_it(tiny_config):
    tiny_config.loss.g_real_batch = "own"
    with pytest.raises(ConfigError, match="g_real_batch='own' reads a real batch for G's phase"):
        validate(tiny_config)


# ---------------------------------------------------------------------------------------------
# Micro-batches as NVlabs' rounds


def test_rounds_sum_the_micro_batch_gradients_the_big_batch_averages_them(sg_config):
    """'rounds' (NVlabs' batch_gpu): the step's gradient is the sum of the rounds' mean
    gradients, M times 'big_batch''s mean; everything else the same."""
    sg_config.microbatches = 2
    grads = {}
    for mode in ("big_batch", "rounds"):
        sg_config.microbatches_as = mode
        run = build.build(sg_config)
        state, batch = run.init_state(), _first_batch(run)
        keys = keys_lib.step_keys(run.keys["train"], state.step, 1)
        images = keys_lib.to_float_images(batch["image"])
        phase = next(p for p in run.phases if p.name == "D main")
        inputs = ts.phase_inputs(sg_config, phase, keys, images, batch["label"], state.aux)
        out = jax.jit(
            lambda s: accumulate.value_and_grad(
                phase, run.models(), s, inputs, s.d_params, 2, mode == "rounds"
            )
        )(state)
        grads[mode] = out[-1]
    for a, b in zip(jax.tree.leaves(grads["rounds"]), jax.tree.leaves(grads["big_batch"])):
        np.testing.assert_allclose(a, 2.0 * b, rtol=1e-6, atol=1e-12)
    assert load_config("stylegan2_fashion_mnist").microbatches_as == "rounds"
    assert load_config("r3gan_cifar10").microbatches_as == "big_batch"
