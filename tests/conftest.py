"""Test set-up: 8 fake CPU devices, set before anything imports JAX, and a persistent XLA
compilation cache in pytest's cache folder (``.pytest_cache/d/xla``: shared by the workers
of ``pytest -n``, kept between runs, removed by ``--cache-clear``), so a program that many
tests build (the same tiny networks and train steps) compiles once. Every program goes in,
however quickly it compiled (JAX keeps only those over 1 s by default), and the processes
that tests start (``train.py``, the tools) read and fill the same cache through
``JAX_COMPILATION_CACHE_DIR``: a process starting up compiles hundreds of small programs
that the one before it compiled too. Measured on the tests that start processes
(tests/run/test_read_only.py, test_preemption.py, test_trainer.py, tests/tools/test_generate.py,
test_cli.py, test_evaluate.py, one process on one core, an empty cache each time): 272 s and
280 s with the cache in this process only and its 1 s threshold, 162 s and 170 s with every
program cached and shared.

The suite's programs are tiny and their time goes into compiling them, so LLVM's
optimisation of the CPU code is off (``--xla_backend_optimization_level=0``; XLA's own
graph passes, fusion included, still run). Five of the slowest tests (StyleGAN2 steps,
R3GAN and conditional DCGAN runs), run one after another in one process each: 110-120 s
at level 0, 141 s at XLA's default (2), 155 s at 1. The flag reaches the processes tests
start too; an XLA_FLAGS that sets the level already is left as it is."""

import gzip
import importlib.util
import os
import struct

_FLAGS = os.environ.get("XLA_FLAGS", "")
if "--xla_backend_optimization_level" not in _FLAGS:
    _FLAGS += " --xla_backend_optimization_level=0"
os.environ["XLA_FLAGS"] = (_FLAGS + " --xla_force_host_platform_device_count=8").strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"


def write_idx(path: str, array: np.ndarray, gz: bool = True) -> None:
    """An MNIST-style IDX file of ``array`` (uint8 or int32), gzipped unless ``gz`` is False."""
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int32): 0x0C}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(payload)


def synthetic_images(n: int = 256, size: int = 28, channels: int = 1, seed: int = 0):
    """Bright squares of a class-dependent size on black: a tiny learnable dataset."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, size, size, channels), np.uint8)
    labels = rng.integers(0, 4, n).astype(np.int32)
    for i, label in enumerate(labels):
        half = 3 + 2 * int(label)
        cy, cx = rng.integers(half, size - half, 2)
        images[i, cy - half : cy + half, cx - half : cx + half] = rng.integers(128, 256)
    return images, labels


@pytest.fixture(scope="session")
def synthetic_npz(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("data") / "squares.npz")
    images, labels = synthetic_images()
    np.savez(path, images=images, labels=labels)
    return path


def load_config(name: str):
    """``get_config()`` of ``configs/<name>.py``."""
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "configs", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.get_config()


@pytest.fixture
def tiny_config(synthetic_npz):
    """configs/tiny.py on the synthetic dataset."""
    config = load_config("tiny")
    config.dataset.source = "npz"
    config.dataset.path = synthetic_npz
    return config


def random_inception_state_dict(seed: int = 0) -> dict:
    """Random weights in the published PyTorch layout, with plausible BatchNorm statistics."""
    rng = np.random.default_rng(seed)
    state = {}
    from gan_jax.metrics import inception

    for name, (_, shape) in inception.torch_layout().items():
        if name.endswith("running_var"):
            state[name] = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif name.endswith("conv.weight"):
            fan_in = np.prod(shape[1:])
            state[name] = (rng.normal(size=shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        elif name.endswith("bn.weight"):
            state[name] = np.ones(shape, np.float32)
        else:
            state[name] = (0.01 * rng.normal(size=shape)).astype(np.float32)
        if name.endswith("bn.running_var"):
            state[name.replace("running_var", "num_batches_tracked")] = np.array(0, np.int64)
    return state


def pytest_configure(config):
    if getattr(config, "cache", None) is not None:
        cache = {
            "jax_compilation_cache_dir": str(config.cache.mkdir("xla")),
            "jax_persistent_cache_min_compile_time_secs": 0.0,
            "jax_persistent_cache_min_entry_size_bytes": 0,
        }
        for name, value in cache.items():  # this process, then the processes tests start
            jax.config.update(name, value)
            os.environ[name.upper()] = str(value)


def pytest_report_header(config):
    return f"jax {jax.__version__}, {jax.device_count()} devices ({jax.devices()[0].platform})"


def lazy_phase_update(config, name: str):
    """(state, state after one run of the lazy phase ``name`` on the first batch, its metrics)."""
    from gan_jax.training import build
    from gan_jax.data import pipeline as data
    from gan_jax.data import sources as datasets
    from gan_jax.training import keys
    from gan_jax.training import phases
    from gan_jax.training import train_step as ts

    run = build.build(config)
    state = run.init_state()
    models = run.models()
    phase = next(p for p in run.phases if p.name == name)
    batch = data.to_global(
        data.host_batch(datasets.load_dataset(config.dataset), config, 0), run.mesh, config.batch_size
    )
    inputs = phases.lazy_inputs(
        phase,
        keys.step_keys(run.keys["train"], state.step, 1),
        keys.to_float_images(batch["image"])[0],
        batch["label"][0],
        config.model.z_dim,
        config.model.num_classes,
        state.aux,
    )
    tx = run.d_tx if phase.network == "d" else run.g_tx
    after, metrics = jax.jit(lambda s: ts.run_phase(phase, models, tx, s, inputs))(state)
    return state, after, metrics


def update_setup(config):
    """(state, d_update, g_update, real, labels, z) for one D main or G main phase on the
    first batch: ``d_update(state, real, real_y, z, fake_y, key)``, ``g_update(state, z,
    fake_y, key)``, each returning (state, metrics)."""
    from gan_jax.training import build
    from gan_jax.data import pipeline as data
    from gan_jax.data import sources as datasets
    from gan_jax.training import keys
    from gan_jax.training import phases
    from gan_jax.training import train_step as ts

    run = build.build(config)
    state = run.init_state()
    models = run.models()
    d_main, g_main = (next(p for p in run.phases if p.name == n) for n in ("D main", "G main"))

    def inputs(real, real_y, z, fake_y, key, aux):
        names = ("aug_real", "aug_fake", "gp", "g")
        return phases.PhaseInputs(
            real, real_y, z, fake_y, {n: jax.random.fold_in(key, i) for i, n in enumerate(names)}, aux
        )

    def d_update(state, real, real_y, z, fake_y, key):
        return ts.run_phase(d_main, models, run.d_tx, state, inputs(real, real_y, z, fake_y, key, state.aux))

    def g_update(state, z, fake_y, key):
        return ts.run_phase(g_main, models, run.g_tx, state, inputs(real, fake_y, z, fake_y, key, state.aux))

    dataset = datasets.load_dataset(config.dataset)
    batch = data.to_global(data.host_batch(dataset, config, 0), run.mesh, config.batch_size)
    z = keys.sample_noise(jax.random.key(1), config.batch_size, config.model.z_dim)
    real = keys.to_float_images(batch["image"])[0]
    return state, d_update, g_update, real, batch["label"][0], z


def check_bfloat16_against_float32(make_models, z_dim: int = 12, num_classes: int = 3):
    """``make_models(dtype) -> (G, D)`` computing in float32 and in bfloat16 share their
    variables (all float32), return float32 images and logits, and agree to bfloat16
    precision on the same variables and inputs, in training mode (batch statistics,
    spectral vectors updated, also float32) and with the generator in inference mode."""
    import jax.numpy as jnp

    (g, d), (g16, d16) = make_models(jnp.float32), make_models(jnp.bfloat16)
    z = jax.random.normal(jax.random.key(0), (4, z_dim))
    y = jnp.arange(4) % num_classes
    g_vars = g.init(jax.random.key(1), z, y, train=False)
    images = g.apply(g_vars, z, y, train=False)
    d_vars = d.init(jax.random.key(2), images, y, train=False)
    for ours, theirs in (
        (g16.init(jax.random.key(1), z, y, train=False), g_vars),
        (d16.init(jax.random.key(2), images, y, train=False), d_vars),
    ):
        assert jax.tree.structure(ours) == jax.tree.structure(theirs)
        assert all(
            a.dtype == jnp.float32 and np.array_equal(a, b)
            for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs))
        )
    g_mutable = [k for k in g_vars if k != "params"]
    (x32, g_up32), (x16, g_up16) = (m.apply(g_vars, z, y, train=True, mutable=g_mutable) for m in (g, g16))
    (l32, d_up32), (l16, d_up16) = (
        m.apply(d_vars, x32, y, train=True, mutable=["spectral"]) for m in (d, d16)
    )
    assert x16.dtype == l16.dtype == jnp.float32
    assert not np.array_equal(x16, x32)  # the bfloat16 model does compute in bfloat16
    assert float(jnp.max(jnp.abs(x16 - x32))) < 0.1 and float(jnp.mean(jnp.abs(x16 - x32))) < 0.01
    np.testing.assert_allclose(l16, l32, atol=0.01 * float(jnp.max(jnp.abs(l32))))
    for a, b in zip(jax.tree.leaves((g_up16, d_up16)), jax.tree.leaves((g_up32, d_up32))):
        assert a.dtype == jnp.float32
        np.testing.assert_allclose(a, b, atol=0.02 * float(jnp.max(jnp.abs(b))))
    inference = g16.apply(g_vars, z, y, train=False)
    assert inference.dtype == jnp.float32
    np.testing.assert_allclose(inference, images, atol=0.05)


def tiny_stylegan2_config(num_classes: int = 0, resolution: int = 16):
    """configs/stylegan2_fashion_mnist.py shrunk to a generator that compiles in seconds:
    16 px, z and w of 8, at most 16 channels."""
    config = load_config("stylegan2_fashion_mnist")
    config.dataset.update(resolution=resolution, resize="resize")
    config.model.update(z_dim=8, num_classes=num_classes)
    config.model.stylegan2.update(w_dim=8, channel_base=128, channel_max=16, mbstd_group=2)
    config.update(batch_size=8)
    config.sample.update(num_images=4, standing_stats=8)
    return config


def untrained_generator(config, shift: float = 0.05, batch_size: int = 4):
    """A `TrainedGenerator` of ``config``'s generator at its initial weights moved by
    ``shift``; G alone is initialised (one compiled call), no D, no training step."""
    import functools

    import jax.numpy as jnp

    from gan_jax.models import build_models
    from gan_jax.run import generator

    g_model, _ = build_models(config)
    z, labels = jnp.zeros((2, config.model.z_dim)), jnp.zeros((2,), jnp.int32)
    variables = jax.jit(functools.partial(g_model.init, train=False))(jax.random.key(1), z, labels)
    variables = {**variables, "params": jax.tree.map(lambda x: x + shift, variables["params"])}
    return generator.make(config, 0, variables, batch_size)


def untrained_generator_file(config, path: str, shift: float = 0.05) -> str:
    """`untrained_generator` written as an exported file (what `gan_jax.tools.export` writes)."""
    from gan_jax.run import exported

    gen = untrained_generator(config, shift)
    with open(path, "wb") as f:
        f.write(exported.encode(config, 0, jax.tree.map(np.asarray, gen.variables)))
    return path
