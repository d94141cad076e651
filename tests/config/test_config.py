"""Every shipped config loads and validates; impossible values are one clear error."""

import glob
import json
import os

import pytest

from conftest import REPO, load_config
from gan_jax import config as config_lib
from gan_jax.errors import ConfigError
from gan_jax.models import build_models

CONFIGS = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "configs", "*.py")))
CONTRACT = (
    "seed",
    "batch_size",
    "num_steps",
    "log_every",
    "sample_every",
    "checkpoint_every",
    "eval_every",
    "dataset",
    "model",
    "optimizer",
    "loss",
)


@pytest.mark.parametrize("name", CONFIGS)
def test_shipped_configs_validate_and_build(name):
    config = load_config(name)
    config_lib.validate(config)
    for field in CONTRACT:
        assert field in config, field
    assert set(config.optimizer) == {"g", "d"}
    build_models(config)
    module_doc = open(os.path.join(REPO, "configs", f"{name}.py")).read()
    assert "python train.py --config configs/" in module_doc and "Hardware" in module_doc


def test_expected_configs_exist():
    assert {"dcgan_fashion_mnist", "dcgan_mnist", "dcgan_cifar10", "dcgan_celeba64", "tiny"} <= set(CONFIGS)


@pytest.mark.parametrize(
    "field, value, match",
    [
        ("batch_size", 0, "batch_size"),
        ("n_critic", -1, "n_critic"),
        ("sample_every", -5, "sample_every"),
        ("loss.d_loss", "bogus", "loss.d_loss"),
        ("loss.g_loss", "bogus", "loss.g_loss"),
        ("dataset.channels", 2, "dataset.channels"),
        ("dataset.resize", "stretch", "dataset.resize"),
        ("model.dtype", "int8", "model.dtype"),
        ("ema.decay", 1.0, "ema.decay"),
        ("optimizer.d.learning_rate", -1.0, "optimizer.d.learning_rate"),
        ("optimizer.g.learning_rate", float("nan"), "optimizer.g.learning_rate=nan must be a finite"),
        ("optimizer.d.learning_rate", float("inf"), "optimizer.d.learning_rate=inf must be a finite"),
        ("optimizer.g.b1", 1.5, "optimizer.g.b1=1.5 must be in"),
        ("optimizer.d.b2", 1.0, "optimizer.d.b2=1.0 must be in"),
        ("optimizer.g.eps", 0.0, "optimizer.g.eps"),
        ("dataset.max_examples", -5, "dataset.max_examples=-5 must be >= 0"),
        ("dataset.workers", -1, "dataset.workers=-1 must be >= 0"),
        ("sample.standing_stats", 0, "sample.standing_stats=0 must be >= 1"),
        ("sample.num_images", 0, "sample.num_images=0 must be >= 1"),
        ("model.z_dim", 0, "model.z_dim=0 must be >= 1"),
        ("ops.conv_batch_slices", -1, "ops.conv_batch_slices=-1 must be >= 0"),
        (
            "ops.conv_weight_grad",
            "im2col",
            "ops.conv_weight_grad='im2col' must be one of auto, conv, taps",
        ),
        ("model.dcgan.g_width", 0, "model.dcgan.g_width=0 must be >= 1"),
        ("seed", -1, "seed=-1 must be >= 0"),
    ],
)
def test_invalid_values(field, value, match):
    config = config_lib.base_config()
    *parents, leaf = field.split(".")
    node = config
    for p in parents:
        node = node[p]
    node[leaf] = value
    with pytest.raises(ConfigError, match=match.replace(".", r"\.")):
        config_lib.validate(config)


@pytest.mark.parametrize(
    "architecture, dtype, match",
    [
        ("dcgan", "float16", "float16' is refused: gan_jax has no loss scaling"),
        ("sngan", "float16", "float16' is refused: gan_jax has no loss scaling"),
        (
            "stylegan2",
            "bfloat16",
            "only used by the DCGAN, SNGAN and BigGAN; model.architecture='stylegan2' "
            "would ignore it: set model.stylegan2.num_bf16_res instead",
        ),
        ("r3gan", "bfloat16", "set model.r3gan.num_bf16_res instead"),
    ],
)
def test_compute_dtypes_a_model_would_ignore_are_refused(architecture, dtype, match):
    config = config_lib.base_config()
    config.model.update(architecture=architecture, dtype=dtype)
    with pytest.raises(ConfigError, match=match.replace(".", r"\.")):
        config_lib.validate(config)


@pytest.mark.parametrize("architecture", ["dcgan", "sngan", "biggan"])
def test_bfloat16_compute_is_accepted_where_the_model_honours_it(architecture):
    config = config_lib.base_config()
    config.model.update(architecture=architecture, dtype="bfloat16")
    config_lib.validate(config)


def test_field_names_lists_leaves():
    names = config_lib.field_names(config_lib.base_config())
    assert "optimizer.g.learning_rate" in names and "dataset.path" in names and "model" not in names


def test_from_dict_restores_a_saved_config_and_rejects_what_does_not_fit():
    saved = config_lib.base_config()
    saved.seed, saved.model.num_classes, saved.eval.metrics = 7, 10, "fd_fmnist"
    restored = config_lib.from_dict(json.loads(config_lib.to_json(saved)))
    assert restored.to_dict() == saved.to_dict()
    with pytest.raises(ConfigError, match="modle"):
        config_lib.from_dict({"modle": {"z_dim": 3}})
    with pytest.raises(ConfigError, match="batch_size"):
        config_lib.from_dict({"batch_size": "many"})


def test_a_field_newer_than_a_run_is_no_change_at_its_default_and_mirror_is_identity():
    saved = config_lib.base_config().to_dict()
    del saved["dataset"]["mirror"], saved["dataset"]["workers"]  # a run from before these fields
    config = config_lib.base_config()
    assert config_lib.resume_differences(saved, config) == ([], [])
    config.dataset.update(mirror=True, workers=4)
    identity, other = config_lib.resume_differences(saved, config)
    assert identity == ["dataset.mirror: None -> True"] and other == ["dataset.workers: None -> 4"]


def test_one_image_per_micro_batch_with_batchnorm_is_refused():
    from gan_jax.config import base_config, validate

    config = base_config()
    config.batch_size, config.microbatches = 16, 16
    with pytest.raises(
        ConfigError, match="microbatches=16 with batch_size=16 leaves one image per micro-batch"
    ):
        validate(config)
    config.microbatches = 8
    validate(config)
    config.model.architecture, config.microbatches = "stylegan2", 16  # no BatchNorm
    config.dataset.resolution = 32
    validate(config)
