"""Phases: which terms each phase sums, lazy intervals, optimizer scaling, carried state."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.training import build
from gan_jax.data import pipeline as data
from gan_jax.data import sources as datasets
from gan_jax.training import terms
from gan_jax.run import trainer
from gan_jax.errors import ConfigError
from gan_jax.training.state import make_optimizer


def _train(config, num_steps):
    run = build.build(config)
    state, step = run.init_state(), run.stepper()
    history = []
    batches = data.batches(datasets.load_dataset(config.dataset), config, run.mesh, 0, num_steps)
    for i, batch in enumerate(batches):
        before = jax.device_get(state)  # the step donates its input state
        state, metrics = step(state, batch, run.keys["train"], i)
        history.append((before, jax.device_get(metrics)))
    return run, state, history, step


def _equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def _layout(run):
    return [(p.name, [t.name for t in p.terms], p.every) for p in run.phases]


def test_phases_follow_the_config(tiny_config):
    assert _layout(build.build(tiny_config)) == [("D main", ["d_adv"], 1), ("G main", ["g_adv"], 1)]
    tiny_config.regularizer.update(r1_gamma=1.0, r1_every=4, r2_gamma=1.0, r2_every=4, lecam_lambda=0.1)
    tiny_config.optimizer.g.l2 = 1e-4
    assert _layout(build.build(tiny_config)) == [
        ("D main", ["d_adv", "lecam"], 1),
        ("D reg", ["r1", "r2"], 4),
        ("G main", ["g_adv", "g_penalty"], 1),
    ]
    tiny_config.regularizer.r2_every = 2
    with pytest.raises(ConfigError, match="different intervals"):
        build.build(tiny_config)


@pytest.mark.parametrize("dispatch", ["variants", "cond"])
def test_lazy_phase_runs_exactly_every_k_steps_with_its_loss_scaled(tiny_config, dispatch):
    tiny_config.regularizer.update(r1_gamma=10.0, r1_every=3)
    tiny_config.lazy_dispatch = dispatch
    run, _, history, step = _train(tiny_config, 7)
    ran = [float(m["d_reg_ran"]) for _, m in history]
    assert ran == [1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 1.0]  # steps 0, 3, 6
    for (before, m), r in zip(history, ran):
        if r:
            # the phase's loss is k · (γ/2) · R1
            np.testing.assert_allclose(float(m["d_reg_loss"]), 3 * 5.0 * float(m["d_r1"]), rtol=1e-6)
            assert float(m["d_r1"]) > 0
        else:
            assert float(m["d_r1"]) == 0.0 and float(m["d_reg_loss"]) == 0.0
    if dispatch == "variants":  # one program per pattern of due phases, each compiled once
        assert sorted(step.variants) == [(False,), (True,)]
        assert all(v._cache_size() == 1 for v in step.variants.values())


def test_a_due_lazy_phase_takes_its_own_optimizer_step(tiny_config):
    """D's Adam counts two updates in step 0 (D main, then D reg) and one in step 1."""
    tiny_config.regularizer.update(r1_gamma=10.0, r1_every=3)
    _, _, lazy, _ = _train(tiny_config, 2)
    (s0, m0), (s1, m1) = lazy
    # the D optimizer's Adam count moved twice in step 0 (main + reg) and once in step 1
    count = lambda s: int(  # noqa: E731
        jax.tree.leaves([x for x in jax.tree.leaves(s.d_opt_state) if x.dtype == jnp.int32])[0]
    )
    assert count(s0) == 0 and count(s1) == 2


def test_lazy_optimizer_has_scaled_lr_and_betas(tiny_config):
    tiny_config.regularizer.update(r1_gamma=1.0, r1_every=16)
    run = build.build(tiny_config)
    c = 16 / 17
    opt = tiny_config.optimizer.d
    reference = optax.adam(opt.learning_rate * c, b1=opt.b1**c, b2=opt.b2**c, eps=opt.eps)
    params = {"w": jnp.arange(4.0)}
    grads = [{"w": jnp.array([0.3, -1.0, 2.0, 0.5]) * (i + 1)} for i in range(3)]
    for tx in (run.d_tx, reference):
        state, out = tx.init(params), []
        for g in grads:
            u, state = tx.update(g, state, params)
            out.append(u["w"])
        if tx is run.d_tx:
            ours = out
    np.testing.assert_allclose(np.array(ours), np.array(out), rtol=1e-6)
    # G has no lazy phase: plain Adam
    g_ref = make_optimizer(tiny_config.optimizer.g)
    u1, _ = run.g_tx.update(grads[0], run.g_tx.init(params), params)
    u2, _ = g_ref.update(grads[0], g_ref.init(params), params)
    np.testing.assert_array_equal(u1["w"], u2["w"])


def test_d_reg_phase_leaves_g_untouched(tiny_config):
    from conftest import lazy_phase_update

    tiny_config.regularizer.update(r2_gamma=10.0, r2_every=2)
    state, after, metrics = lazy_phase_update(tiny_config, "D reg")
    assert float(metrics["d_r2"]) > 0
    for field in ("g_params", "g_vars", "g_opt_state", "ema_params"):
        assert _equal(getattr(after, field), getattr(state, field)), field
    assert not _equal(after.d_params, state.d_params)
    assert _equal(after.d_vars, state.d_vars)  # R2's own D passes drop their statistics


def test_aux_holds_only_configured_techniques(tiny_config):
    assert build.build(tiny_config).init_state().aux == {}
    tiny_config.augment.update(kind="ada", ada_p=0.25)
    tiny_config.regularizer.lecam_lambda = 0.1
    tiny_config.nonfinite = "skip"
    aux = build.build(tiny_config).init_state().aux
    assert {k: sorted(v) for k, v in aux.items()} == {
        "ada": ["count", "p", "sign_sum"],
        "lecam": ["fake", "real"],
        "nonfinite": ["skipped_steps"],
    }
    assert float(aux["ada"]["p"]) == 0.25


def test_a_new_term_needs_no_change_to_the_step(tiny_config, monkeypatch):
    """Registering a term (here: a penalty on D's mean real score) adds it to D main,
    its metric to the step's, and its carried state to ``state.aux``."""

    def mean_real(config):
        def fn(view, carried):
            real, _ = view.scores()
            value = jnp.mean(real) ** 2
            return 0.5 * value, {"d_mean_real": value}, {"calls": carried["calls"] + 1}

        return terms.Term("mean_real", "d", fn, carried={"calls": 0.0}, metrics=("d_mean_real",))

    monkeypatch.setitem(terms.TERMS, "mean_real", mean_real)
    _, state, history, _ = _train(tiny_config, 2)
    metrics = history[-1][1]
    np.testing.assert_allclose(
        float(metrics["d_loss"]), float(metrics["d_adv"]) + 0.5 * float(metrics["d_mean_real"]), rtol=1e-6
    )
    assert float(state.aux["mean_real"]["calls"]) == 2.0


def test_every_term_states_its_metrics_and_has_a_docstring(tiny_config):
    tiny_config.model.architecture = "stylegan2"
    tiny_config.dataset.resolution = 32
    tiny_config.regularizer.update(r1_gamma=1.0, r2_gamma=1.0, gp_lambda=1.0, lecam_lambda=0.1, pl_weight=2.0)
    tiny_config.augment.kind = "ada"
    tiny_config.optimizer.d.l1 = tiny_config.optimizer.g.l2 = 1e-4
    configured = terms.configured_terms(tiny_config)
    assert [t.name for t in configured] == list(terms.TERMS)
    for name, make in terms.TERMS.items():
        assert make.__doc__ or make.__name__ == "make", name
    assert all(t.metrics for t in configured)


def test_mean_metrics_average_lazy_phases_over_the_steps_they_ran():
    lazy = {"d_reg_ran": ("d_reg_loss", "d_r1", "d_reg_grad_norm")}
    fetched = [
        {"d_loss": 1.0, "d_reg_ran": 1.0, "d_reg_loss": 4.0, "d_r1": 2.0, "d_reg_grad_norm": 1.0},
        {"d_loss": 3.0, "d_reg_ran": 0.0, "d_reg_loss": 0.0, "d_r1": 0.0, "d_reg_grad_norm": 0.0},
    ]
    assert trainer._mean_metrics(fetched, lazy) == {
        "d_loss": 2.0,
        "d_reg_loss": 4.0,
        "d_r1": 2.0,
        "d_reg_grad_norm": 1.0,
    }
    assert trainer._mean_metrics(fetched[1:], lazy) == {"d_loss": 3.0}


def test_real_fake_labels_pair_each_generated_image_with_its_real_class(tiny_config, monkeypatch):
    """loss.fake_labels='real' (R3GAN): every phase generates for the real batch's classes;
    'sampled' draws its own. A term records how many generated labels differ from real ones."""

    def label_gap(config):
        def fn(view, carried):
            gap = jnp.sum(view.fake_y != view.real_y).astype(jnp.float32)
            return jnp.zeros(()), {"d_label_gap": gap}, carried

        return terms.Term("label_gap", "d", fn, metrics=("d_label_gap",))

    monkeypatch.setitem(terms.TERMS, "label_gap", label_gap)
    tiny_config.model.num_classes = 10
    tiny_config.loss.update(d_loss="relativistic", g_loss="relativistic", fake_labels="real")
    _, _, history, _ = _train(tiny_config, 2)
    assert [float(m["d_label_gap"]) for _, m in history] == [0.0, 0.0]
    assert all(np.isfinite(float(m["g_loss"])) for _, m in history)
    tiny_config.loss.fake_labels = "sampled"
    _, _, history, _ = _train(tiny_config, 1)
    assert float(history[0][1]["d_label_gap"]) > 0
