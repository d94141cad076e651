"""`python -m gan_jax.tools.export` and `gan_jax.load_generator`: generate's pixels without the
training code, for every architecture; the file's layout; one-line errors."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from safetensors import safe_open

import gan_jax
from conftest import REPO, load_config, synthetic_images
from gan_jax.training import build
from gan_jax.run import checkpoint
from gan_jax.tools import export
from gan_jax.run import exported
from gan_jax.tools import generate as gen
from gan_jax.run import loading as runs
from gan_jax.training import sample
from gan_jax.errors import CheckpointError, ConfigError
from gan_jax.run.trainer import train_and_evaluate


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory, synthetic_npz):
    """Tiny DCGANs: a 4-class conditional one trained for a step, and an unconditional one
    saved at its initial state, EMA weights moved off it."""
    root = tmp_path_factory.mktemp("runs")
    config = load_config("tiny")
    config.dataset.source, config.dataset.path = "npz", synthetic_npz
    config.num_steps, config.checkpoint_every, config.log_every, config.sample_every = 1, 1, 1, 0
    config.model.num_classes = 4
    train_and_evaluate(config, str(root / "cond"))
    config.model.num_classes = 0
    _saved_run(config, str(root / "uncond"))
    return {"uncond": str(root / "uncond"), "cond": str(root / "cond")}


@pytest.fixture(scope="module")
def files(workdirs, tmp_path_factory):
    root = tmp_path_factory.mktemp("exports")
    return {name: export.export(wd, str(root / f"{name}.safetensors")) for name, wd in workdirs.items()}


def test_file_layout(files, workdirs):
    with safe_open(files["cond"], framework="numpy") as f:
        meta, names = f.metadata(), list(f.keys())
    assert meta["format"] == "gan_jax.generator" and meta["format_version"] == "1"
    assert meta["step"] == "1" and meta["gan_jax_version"] == gan_jax.__version__
    config = json.loads(meta["config"])
    assert config["model"]["num_classes"] == 4 and config["model"]["architecture"] == "dcgan"
    assert {n.split("/")[0] for n in names} == {"params", "batch_stats"}
    # The statistics are the standing ones generate computes, not the training averages.
    run, state, _ = runs.load_checkpoint(workdirs["cond"])
    flat = exported.flatten_variables(
        {"params": state.ema_params, **run.sampler().stats(state.ema_params, state.g_vars)}
    )
    trained = exported.flatten_variables(state.g_vars)
    with safe_open(files["cond"], framework="numpy") as f:
        assert sorted(flat) == sorted(names)
        for name in names:
            np.testing.assert_array_equal(f.get_tensor(name), flat[name])
        assert any(
            not np.array_equal(f.get_tensor(n), trained[n]) for n in names if n.startswith("batch_stats/")
        )


def test_unconditional_pixels_equal_generate(files, workdirs):
    g = gan_jax.load_generator(files["uncond"])
    run = gen.load_run(workdirs["uncond"])
    seeds = list(range(70))  # two batches of 64, the second padded
    images = g(seeds=seeds)
    assert images.dtype == np.uint8 and images.shape == (70, 28, 28, 1) and g.step == 0
    np.testing.assert_array_equal(images, gen.seed_images(run, seeds)[0])
    np.testing.assert_array_equal(
        g(seeds=[5, 3], z_truncation=0.5), gen.seed_images(run, [5, 3], z_truncation=0.5)[0]
    )
    z = sample.seed_noise([9, 4], 16)
    np.testing.assert_array_equal(g(z=z), gen.seed_images(run, [9, 4])[0])
    assert g(seeds=[]).shape == (0, 28, 28, 1)


def test_conditional_pixels_equal_generate(files, workdirs):
    g = gan_jax.load_generator(files["cond"], batch_size=8)
    run = gen.load_run(workdirs["cond"])
    seeds = [0, 1, 2, 3, 6, 11]
    np.testing.assert_array_equal(g(seeds=seeds), gen.seed_images(run, seeds)[0])  # class s mod 4
    np.testing.assert_array_equal(g(seeds=seeds, class_=2), gen.seed_images(run, seeds, class_=2)[0])
    z, labels = g.seed_inputs(seeds)
    np.testing.assert_array_equal(labels, [0, 1, 2, 3, 2, 3])
    np.testing.assert_array_equal(g(z=z, labels=labels), g(seeds=seeds))
    np.testing.assert_array_equal(g(z=z, labels=np.eye(4)[labels]), g(seeds=seeds))  # one-hot weights
    with pytest.raises(ConfigError, match="out of range: the generator has 4 classes"):
        g(seeds=[0], class_=4)
    with pytest.raises(ConfigError, match="pass labels="):
        g(z=z)
    with pytest.raises(ConfigError, match="for StyleGAN generators"):
        g(seeds=[0], psi=0.5)
    with pytest.raises(ConfigError, match="give seeds"):
        g()


def test_loading_needs_no_training_code(files, tmp_path):
    code = (
        "import sys, numpy as np, gan_jax\n"
        f"g = gan_jax.load_generator({files['cond']!r})\n"
        f"np.save({str(tmp_path / 'x.npy')!r}, g(seeds=[3, 1], class_=1))\n"
        "ours = {'gan_jax.run.trainer', 'gan_jax.training.build', 'gan_jax.run.checkpoint', 'gan_jax.data.sources',\n"
        "        'gan_jax.run.loading', 'gan_jax.training.losses', 'gan_jax.tools.export', 'gan_jax.tools.generate'}\n"
        "print(sorted(m for m in sys.modules if m in ours or m.startswith(('optax', 'orbax'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": REPO},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"
    np.testing.assert_array_equal(
        np.load(tmp_path / "x.npy"), gan_jax.load_generator(files["cond"])(seeds=[3, 1], class_=1)
    )


def test_a_file_written_before_the_architecture_sections_loads(files, tmp_path):
    """An export whose config has the former flat ``model`` (every architecture's fields and
    the ops' knobs side by side) is read into today's sections: the same images."""
    with safe_open(files["cond"], framework="numpy") as f:
        meta, tensors = f.metadata(), {n: f.get_tensor(n) for n in f.keys()}
    config = json.loads(meta["config"])
    model = config["model"]
    flat = {k: v for k, v in model.items() if not isinstance(v, dict)}
    flat.update(model["dcgan"], **config.pop("ops"))
    flat.update(channel_base=32768, w_dim=512, stage_widths=[])  # other architectures' fields
    config["model"] = flat
    from safetensors.numpy import save_file

    old = str(tmp_path / "old.safetensors")
    save_file(tensors, old, metadata={**meta, "config": json.dumps(config)})
    g = gan_jax.load_generator(old)
    assert g.config.model.dcgan.g_width == model["dcgan"]["g_width"] and "g_width" not in g.config.model
    np.testing.assert_array_equal(g(seeds=[0, 5]), gan_jax.load_generator(files["cond"])(seeds=[0, 5]))
    save_file(tensors, old, metadata={**meta, "step": "ten"})
    with pytest.raises(ConfigError, match="its metadata's step 'ten' is not a number"):
        gan_jax.load_generator(old)


def _export_cli(tmp_path, *args):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": REPO}
    return subprocess.run(
        [sys.executable, "-m", "gan_jax.tools.export", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(tmp_path),
        timeout=300,
    )


def test_cli_writes_the_file_export_writes(files, workdirs, tmp_path):
    result = _export_cli(
        tmp_path, "--workdir", workdirs["uncond"], "--checkpoint", "0", "--out", "sub/g.safetensors"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["wrote sub/g.safetensors"]
    assert os.listdir(tmp_path / "sub") == ["g.safetensors"]
    with (
        safe_open(tmp_path / "sub" / "g.safetensors", "numpy") as a,
        safe_open(files["uncond"], "numpy") as b,
    ):
        assert a.metadata() == b.metadata() and sorted(a.keys()) == sorted(b.keys())
        for name in a.keys():
            np.testing.assert_array_equal(a.get_tensor(name), b.get_tensor(name))


@pytest.mark.parametrize(
    "args, message",
    [
        (["--workdir", "missing", "--out", "g.safetensors"], "error: workdir 'missing' does not exist"),
        (["--workdir", ".", "--out", "g.safetensors"], "error: no checkpoint in"),
        (["--workdir", ".", "--out", "taken.safetensors"], "error: --out='taken.safetensors' is a directory"),
    ],
)
def test_cli_user_errors_are_one_line_and_status_2(tmp_path, args, message):
    os.makedirs(tmp_path / "taken.safetensors")
    result = _export_cli(tmp_path, *args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(message), result.stderr[-2000:]
    assert not os.path.exists(tmp_path / "g.safetensors")


def test_user_errors_in_process(workdirs, files, tmp_path):
    with pytest.raises(ConfigError, match="must end in .safetensors"):
        export.export(workdirs["uncond"], str(tmp_path / "g.npz"))
    with pytest.raises(CheckpointError, match="no best checkpoint"):
        export.export(workdirs["uncond"], str(tmp_path / "g.safetensors"), "best")
    with pytest.raises(CheckpointError, match="no checkpoint at step 3"):
        export.export(workdirs["uncond"], str(tmp_path / "g.safetensors"), "3")
    os.makedirs(tmp_path / "g.safetensors.tmp")  # where the file is written before its rename
    with pytest.raises(ConfigError, match="cannot write .*g.safetensors: Is a directory"):
        export.export(workdirs["uncond"], str(tmp_path / "g.safetensors"))
    assert not os.path.exists(tmp_path / "g.safetensors")
    with pytest.raises(ConfigError, match="no such file"):
        gan_jax.load_generator(str(tmp_path / "none.safetensors"))
    (tmp_path / "junk.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ConfigError, match="cannot read .* as safetensors"):
        gan_jax.load_generator(str(tmp_path / "junk.safetensors"))
    from safetensors.numpy import save_file

    save_file({"a": np.zeros(2, np.float32)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ConfigError, match="not a gan_jax generator export"):
        gan_jax.load_generator(str(tmp_path / "other.safetensors"))


def _saved_run(config, workdir) -> None:
    """A checkpoint of ``config``'s initial state with the EMA weights moved off their init."""
    run = build.build(config)
    state = run.init_state()
    state = state.replace(ema_params=jax.tree.map(lambda x: x + 0.01, state.ema_params))
    manager = checkpoint.make_manager(workdir, config)
    checkpoint.save(manager, state, config)
    checkpoint.wait(manager)
    manager.close()


def _architecture_config(name: str, npz: str):
    config = load_config("tiny")
    config.dataset.update(source="npz", path=npz)
    config.sample.standing_stats = 8
    if name == "stylegan2":
        config = load_config("stylegan2_fashion_mnist")
        config.dataset.update(source="npz", path=npz, resolution=8, resize="resize")
        config.model.update(z_dim=8)
        config.model.stylegan2.update(w_dim=8, channel_base=64, channel_max=8, mbstd_group=2)
        config.sample.standing_stats = 8
    elif name == "r3gan":
        config.dataset.update(resolution=8, resize="resize")
        config.model.update(architecture="r3gan")
        config.model.r3gan.update(
            g_width=8, d_width=8, stage_widths=(8, 8), stage_blocks=(1, 1), stage_groups=(1, 1)
        )
    else:
        config.dataset.update(resolution=32, resize="resize")
        config.model.update(architecture=name, num_classes=3)
        config.model[name].update(g_width=8, d_width=8, **({"shared_dim": 4} if name == "biggan" else {}))
    return config


@pytest.mark.slow  # make test-all: a generator compile per architecture
@pytest.mark.parametrize("name", ["sngan", "biggan", "stylegan2", "r3gan"])
def test_every_architecture_matches_generate(name, tmp_path):
    images, labels = synthetic_images(n=16)
    np.savez(tmp_path / "d.npz", images=images, labels=labels)
    config = _architecture_config(name, str(tmp_path / "d.npz"))
    workdir = str(tmp_path / "run")
    _saved_run(config, workdir)
    g = gan_jax.load_generator(export.export(workdir, str(tmp_path / "g.safetensors")), batch_size=4)
    options = [{}]
    if name == "stylegan2":
        options += [dict(psi=0.5), dict(noise_mode="none")]
    for kw in options:
        run = gen.load_run(workdir, psi=kw.get("psi"), noise_mode=kw.get("noise_mode"))
        ours = g(seeds=[0, 1, 2, 5, 7], **kw)
        np.testing.assert_array_equal(ours, gen.seed_images(run, [0, 1, 2, 5, 7], batch_size=4)[0])
    assert (ours[0] != ours[1]).any()
