"""Fine-tuning: init_from takes a trained run's networks into a new run at step 0."""

import json
import os
import shutil

import jax
import numpy as np
import pytest

from gan_jax import parallel
from gan_jax.training import build
from gan_jax.run import finetune
from gan_jax.errors import ConfigError
from gan_jax.run.loading import load_checkpoint
from gan_jax.run.trainer import train_and_evaluate

NETWORKS = ("g_params", "g_vars", "d_params", "d_vars", "ema_params")


def _equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


@pytest.fixture(scope="module")
def source(tmp_path_factory, synthetic_npz):
    """A tiny DCGAN trained 4 steps, checkpoints at 2 and 4."""
    from conftest import load_config

    config = load_config("tiny")
    config.dataset.update(source="npz", path=synthetic_npz)
    config.update(num_steps=4, checkpoint_every=2, sample_every=0)
    workdir = str(tmp_path_factory.mktemp("source"))
    train_and_evaluate(config, workdir)
    return workdir


def _start(config):
    run = build.build(config, parallel.create_mesh())
    return finetune.initial_state(run, config, run.init_state()), run.init_state()


@pytest.mark.parametrize(
    "where, step",
    [
        ("checkpoints/2", 2),
        pytest.param("", 4, marks=pytest.mark.slow),
        pytest.param("checkpoints", 4, marks=pytest.mark.slow),
    ],
)
def test_init_from_takes_the_networks_and_starts_at_step_0(source, tiny_config, where, step):
    tiny_config.init_from = os.path.join(source, where) if where else source
    tiny_config.optimizer.g.learning_rate = 1e-4  # what fine-tuning may change
    state, fresh = _start(tiny_config)
    _, saved, saved_step = load_checkpoint(source, None if step == 4 else str(step))
    assert saved_step == step and int(state.step) == 0
    for field in NETWORKS:
        assert _equal(getattr(state, field), getattr(saved, field)), field
        assert not _equal(getattr(state, field), getattr(fresh, field)) or field == "d_vars", field
    # Adam starts afresh unless asked: its moments are zero, its count 0.
    assert _equal(state.g_opt_state, fresh.g_opt_state) and _equal(state.d_opt_state, fresh.d_opt_state)
    assert not _equal(state.d_opt_state, saved.d_opt_state)


def test_init_optimizer_takes_both_optimizer_states(source, tiny_config):
    tiny_config.update(init_from=source, init_optimizer=True)
    state, _ = _start(tiny_config)
    _, saved, _ = load_checkpoint(source)
    assert _equal(state.g_opt_state, saved.g_opt_state) and _equal(state.d_opt_state, saved.d_opt_state)
    assert int(state.step) == 0


def test_a_differently_shaped_model_is_refused_naming_the_parameter(source, tiny_config):
    tiny_config.init_from = source
    tiny_config.model.dcgan.d_width = 16
    with pytest.raises(ConfigError) as e:
        _start(tiny_config)
    message = str(e.value)
    assert (
        "(step 4) does not fit this config: d_params/BatchNorm_0/bias is float32[16] in the "
        "source and float32[32] here" in message
    )


def test_an_optimizer_of_another_layout_is_refused_with_a_way_out(source, tiny_config):
    tiny_config.update(init_from=source, init_optimizer=True)
    tiny_config.optimizer.d.final_learning_rate = 0.0  # a scheduled Adam keeps more state
    with pytest.raises(ConfigError, match=r"d_opt_state/.* drop init_optimizer"):
        _start(tiny_config)


@pytest.mark.parametrize(
    "path, message",
    [
        ("missing", "is not a folder"),
        ("empty", "holds no checkpoints/ folder"),
    ],
)
def test_bad_sources_are_one_line(tiny_config, tmp_path, path, message):
    (tmp_path / "empty").mkdir()
    tiny_config.init_from = str(tmp_path / path)
    with pytest.raises(ConfigError, match=message):
        _start(tiny_config)


def test_fine_tuning_run_trains_then_resumes_from_its_own_checkpoints(source, tiny_config, tmp_path):
    """Onto one class with D's first block frozen; a restart ignores init_from."""
    copy = str(tmp_path / "source")
    shutil.copytree(source, copy)
    tiny_config.dataset.classes = (2,)
    tiny_config.update(init_from=copy, freeze_d=1, num_steps=2, checkpoint_every=2, sample_every=0)
    workdir = str(tmp_path / "tuned")
    state = train_and_evaluate(tiny_config, workdir)
    _, saved, _ = load_checkpoint(source)
    assert int(state.step) == 2
    assert _equal(state.d_params["Conv_0"], saved.d_params["Conv_0"])  # frozen, exactly
    assert not _equal(state.d_params["Conv_1"], saved.d_params["Conv_1"])
    assert not _equal(state.g_params, saved.g_params)
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        assert [json.loads(line)["step"] for line in f] == [2]

    shutil.rmtree(copy)  # resuming needs only the run's own checkpoints
    tiny_config.num_steps = 4
    resumed = train_and_evaluate(tiny_config, workdir)
    assert int(resumed.step) == 4
    assert _equal(resumed.d_params["Conv_0"], saved.d_params["Conv_0"])
