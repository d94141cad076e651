"""StyleGAN2 through the phased step: its phases, their isolation, exact resume, published
weights into a run, and sampling with w-space truncation."""

import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from conftest import REPO, lazy_phase_update, load_config, synthetic_images
from gan_jax.training import build
from gan_jax.run import checkpoint, generator
from gan_jax.convert import stylegan2 as cv
from gan_jax.tools import generate
from gan_jax.training import sample
from gan_jax.run.trainer import train_and_evaluate


@pytest.fixture
def sg_config(tmp_path_factory):
    """configs/stylegan2_fashion_mnist.py shrunk: 16 px, 16 channels, batch 8."""
    path = str(tmp_path_factory.mktemp("data") / "squares16.npz")
    images, labels = synthetic_images(n=64)
    np.savez(path, images=images, labels=labels)
    config = load_config("stylegan2_fashion_mnist")
    config.dataset.update(source="npz", path=path, resolution=16, resize="resize")
    config.model.update(z_dim=8)
    config.model.stylegan2.update(w_dim=8, channel_base=128, channel_max=16, mbstd_group=2)
    config.regularizer.update(r1_every=4, pl_every=2)
    config.update(batch_size=8, num_steps=6, log_every=1, sample_every=0, checkpoint_every=3)
    config.sample.update(num_images=4, standing_stats=8)
    return config


def _equal(a, b) -> bool:
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(np.array_equal(x, y) for x, y in zip(la, lb))


def test_stylegan2_phases(sg_config):
    run = build.build(sg_config)
    assert [(p.name, [t.name for t in p.terms], p.every) for p in run.phases] == [
        ("G main", ["g_adv"], 1),
        ("G reg", ["path_length"], 2),
        ("D main", ["d_adv"], 1),
        ("D reg", ["r1"], 4),
    ]
    assert set(run.init_state().aux) == {"path_length"}


def test_g_reg_phase_updates_g_and_the_path_length_mean_only(sg_config):
    state, after, metrics = lazy_phase_update(sg_config, "G reg")
    for field in ("d_params", "d_vars", "d_opt_state", "ema_params"):
        assert _equal(getattr(after, field), getattr(state, field)), field
    assert not _equal(after.g_params, state.g_params)
    # a ← a + 0.01 (mean ℓ − a) from a = 0
    np.testing.assert_allclose(
        float(after.aux["path_length"]["mean"]), 0.01 * float(metrics["g_pl"]), rtol=1e-5
    )
    assert float(metrics["g_reg_loss"]) > 0


@pytest.mark.slow  # make test-all
def test_stylegan2_resume_is_bit_exact_with_ada_and_path_length(sg_config, tmp_path):
    """4 steps straight equal 2 + restart + 2, with R1 and path length both due at steps 0
    and 2 (one program: 'cond', so the three runs compile once each)."""
    sg_config.augment.update(kind="ada", ada_pipeline="blit", ada_p=0.2, ada_interval=1, ada_kimg=1.0)
    sg_config.regularizer.update(r1_every=2, pl_every=2)
    sg_config.dataset.resolution = 8  # two blocks: the step's structure at the least compile time
    sg_config.update(lazy_dispatch="cond", num_steps=4, checkpoint_every=2)
    straight = train_and_evaluate(sg_config, str(tmp_path / "straight"))
    sg_config.num_steps = 2
    train_and_evaluate(sg_config, str(tmp_path / "resumed"))
    sg_config.num_steps = 4
    resumed = train_and_evaluate(sg_config, str(tmp_path / "resumed"))
    assert float(straight.aux["ada"]["p"]) != 0.2 and float(straight.aux["path_length"]["mean"]) > 0
    assert _equal(jax.device_get(straight), jax.device_get(resumed))


def _nvlabs_state_dict(run, state, seed=0) -> dict[str, np.ndarray]:
    """The networks of a gan_jax StyleGAN2 state written out in NVlabs' layout."""
    out = {}
    for prefix, model, params, collections in (
        ("G.", run.g_model, state.g_params, state.g_vars),
        ("G_ema.", run.g_model, state.ema_params, state.g_vars),
        ("D.", run.d_model, state.d_params, state.d_vars),
    ):
        rng = np.random.default_rng(seed)
        trees = {"params": params, **collections}
        for name, (collection, path, _) in cv.torch_layout(model, run.config.dataset.channels).items():
            value = np.asarray(_get(trees[collection], path))
            if collection == "params":
                value = value + 0.01 * rng.standard_normal(value.shape).astype(np.float32)
                value = {
                    4: lambda v: v.transpose(3, 2, 0, 1),
                    3: lambda v: v.transpose(2, 0, 1),
                    2: lambda v: v.T,
                }.get(value.ndim, lambda v: v)(value)
            out[prefix + name] = value
    return out


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


@pytest.mark.slow
def test_converted_weights_make_a_run_that_generate_samples(sg_config, tmp_path):
    run = build.build(sg_config)
    source = _nvlabs_state_dict(run, run.init_state())
    np.savez(tmp_path / "net.npz", **source)
    config_path = tmp_path / "cfg.py"
    config_path.write_text(
        "import sys\nsys.path.insert(0, %r)\nfrom conftest import load_config\n" % os.path.join(REPO, "tests")
        + "def get_config():\n    c = load_config('stylegan2_fashion_mnist')\n"
        + "".join(f"    c.{k} = {v!r}\n" for k, v in _flat(sg_config).items())
        + "    return c\n"
    )
    workdir = tmp_path / "converted"
    cmd = [
        sys.executable,
        "-m",
        "gan_jax.tools.convert_stylegan2",
        f"--src={tmp_path / 'net.npz'}",
        f"--config={config_path}",
        f"--workdir={workdir}",
    ]
    result = subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "JAX_PLATFORMS": "cpu"}
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert os.listdir(workdir / "checkpoints") == ["0"]
    manager = checkpoint.make_manager(str(workdir), sg_config)
    state = checkpoint.restore(manager, run.abstract_state())
    manager.close()
    ema, _ = cv.convert(source, "G_ema.", run.g_model)
    assert _equal(state.ema_params, ema) and not _equal(state.ema_params, run.init_state().ema_params)
    loaded = generate.load_run(str(workdir))
    z = jnp.stack([jax.random.normal(jax.random.key(s), (8,)) for s in (0, 1)])
    direct = run.sampler()(ema, state.g_vars, z, jnp.zeros((2,), jnp.int32))
    np.testing.assert_array_equal(loaded.images(z, jnp.zeros((2,), jnp.int32), 2), sample.to_uint8(direct))
    again = subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO, env={**os.environ, "JAX_PLATFORMS": "cpu"}
    )
    last = again.stderr.strip().splitlines()[-1]
    assert again.returncode == 2 and last.startswith("error: ") and "already holds" in last


def _flat(config, prefix=""):
    out = {}
    for k, v in config.items():
        if hasattr(v, "items"):
            out.update(_flat(v, f"{prefix}{k}."))
        elif v is not None:
            out[prefix + k] = v
    return out


@pytest.mark.slow  # make test-all
def test_truncation_and_style_figures_on_a_saved_run(sg_config, tmp_path):
    """generate --psi 0 gives every seed the w̄ image and --psi 1 the plain samples; the
    ψ sweep's ψ = 0 row repeats one image; a mixing cell that takes every layer from its
    column seed is that seed's image."""
    from gan_jax.run import checkpoint as ckpt
    from gan_jax.tools import style_figures

    sg_config.model.z_dim = 8
    run = build.build(sg_config)
    state = run.init_state()
    state = state.replace(ema_params=jax.tree.map(lambda x: x + 0.05, state.ema_params))
    workdir = tmp_path / "run"
    manager = ckpt.make_manager(str(workdir), sg_config)
    ckpt.save(manager, state, sg_config)
    ckpt.wait(manager)
    manager.close()

    out = tmp_path / "s.npz"
    generate.generate(str(workdir), seeds="0-3", psi=0.0, npz=str(out))
    images = np.load(out)["images"]
    assert all(np.array_equal(images[0], im) for im in images[1:])
    generate.generate(str(workdir), seeds="0-3", psi=1.0, npz=str(out))
    plain = generate.generate(str(workdir), seeds="0-3", npz=str(tmp_path / "p.npz"))
    np.testing.assert_array_equal(np.load(out)["images"], np.load(plain[0])["images"])
    assert not all(np.array_equal(np.load(out)["images"][0], im) for im in np.load(out)["images"][1:])

    loaded = generator.from_checkpoint(str(workdir))
    h = sg_config.dataset.resolution + 2  # a grid cell with its padding
    psi = style_figures.psi_figure(loaded, [1.0, 0.0], [0, 1, 2])
    zero_row = [psi[h + 2 : 2 * h, 2 + c * h : (c + 1) * h] for c in range(3)]
    assert all(np.array_equal(zero_row[0], cell) for cell in zero_row[1:])
    num_ws = stylegan2_num_ws(sg_config)
    grid = style_figures.mixing_figure(loaded, [3, 4], [5, 6], list(range(num_ws)))
    cell = grid[h + 2 : 2 * h, h + 2 : 2 * h]  # row seed 3, column seed 5
    np.testing.assert_array_equal(cell, grid[2:h, h + 2 : 2 * h])  # column seed 5's own image
    assert not np.array_equal(cell, grid[h + 2 : 2 * h, 2:h])  # not row seed 3's
    with pytest.raises(Exception, match="--styles"):
        style_figures.mixing_figure(loaded, [3], [5], [num_ws])


def stylegan2_num_ws(config) -> int:
    from gan_jax.models import stylegan2

    return stylegan2.num_ws(config.dataset.resolution)


def test_trunc_is_refused_for_other_generators(tiny_config, tmp_path):
    from gan_jax.errors import ConfigError

    with pytest.raises(ConfigError, match="StyleGAN"):
        generate.check_w_truncation(tiny_config, 0.5, None)
    generate.check_w_truncation(tiny_config, None, None)
