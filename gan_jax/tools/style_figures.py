"""StyleGAN figures from a trained run: style mixing and a truncation (ψ) sweep.

    python -m gan_jax.tools.style_figures --workdir W --mix --rows 0-4 --cols 10-15 [--styles 0-3]
        [--trunc 1.0] --out mixing.png
    python -m gan_jax.tools.style_figures --workdir W --psi 1,0.7,0.5,0 --seeds 0-7 --out psi.png

**Style mixing** (Karras et al. 2019, "A Style-Based Generator Architecture for GANs",
section 3.1 and Figure 3): every seed is mapped to w (one per synthesis layer, num_ws of
them); the top row shows the column seeds' images, the left column the row seeds'; cell
(r, c) is the image of row seed r's ws with the layers ``--styles`` (0 = the 4×4 block's
first layer) taken from column seed c. Early layers carry the coarse styles (pose, shape),
late ones the fine (texture, colour).

**ψ sweep**: one row per ψ, one column per seed, w' = w̄ + ψ (w − w̄) for every layer
(Karras et al. 2019, appendix B): ψ = 1 is the untruncated generator, ψ = 0 the image of
the tracked mean w̄, the same in every column.

A seed's z is drawn from key(seed) as ``generate`` draws it (`sample.seed_noise`); the
unconditional model's labels are zeros, a conditional model's ``--class`` (default 0);
the synthesis uses the stored constant noise.
"""

import os

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from gan_jax.tools import cli
from gan_jax.tools import generate
from gan_jax.run import loading as runs
from gan_jax.training import sample
from gan_jax.run import writers
from gan_jax.run.generator import check_psi, finite_uint8
from gan_jax.errors import ConfigError


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "The StyleGAN run.")
    flags.DEFINE_string("checkpoint", None, "Checkpoint step, or 'best' (default: the latest).")
    flags.DEFINE_bool("mix", False, "Draw the style-mixing figure (--rows, --cols, --styles).")
    flags.DEFINE_string("rows", "0-4", "Row seeds of the style-mixing figure.")
    flags.DEFINE_string("cols", "10-15", "Column seeds of the style-mixing figure.")
    flags.DEFINE_string(
        "styles", None, "Layers taken from the column seeds (default: the first half, the coarse styles)."
    )
    flags.DEFINE_string("psi", None, "Draw a truncation sweep over these psi values, e.g. 1,0.7,0.5,0.")
    flags.DEFINE_string("seeds", "0-7", "Seeds of the truncation sweep.")
    flags.DEFINE_float("trunc", 1.0, "Truncation psi of the style-mixing figure.")
    flags.DEFINE_integer("class", 0, "Class of every image (conditional models).")
    flags.DEFINE_string("out", None, "Output PNG.")


def _require_stylegan(config) -> None:
    if config.model.architecture != "stylegan2":
        raise ConfigError(
            f"style figures need a StyleGAN generator; the run is {config.model.architecture!r}"
        )


def _functions(run, state, class_: int):
    """(mapping(z, ψ) → ws, synthesis(ws) → uint8 images), jit-compiled, of the EMA generator."""
    g, params, g_vars = run.g_model, state.ema_params, state.g_vars
    num_classes = run.config.model.num_classes
    if num_classes:
        generate.check_class(run.config, class_)

    @jax.jit
    def mapping(z, psi):
        labels = jnp.full((len(z),), class_ if num_classes else 0, jnp.int32)
        return g.apply(
            {"params": params, **g_vars}, z, labels, truncation_psi=psi, train=False, method="mapping"
        )

    @jax.jit
    def synthesis(ws):
        return g.apply({"params": params, **g_vars}, ws, noise_mode="const", train=False, method="synthesis")

    return mapping, lambda ws: finite_uint8(jax.device_get(synthesis(ws)), "the generator")


def mixing_figure(
    run,
    state,
    rows: list[int],
    cols: list[int],
    styles: list[int] | None = None,
    psi: float = 1.0,
    class_: int = 0,
) -> np.ndarray:
    """(len(rows) + 1, len(cols) + 1) grid as one uint8 image; the top-left cell is empty."""
    mapping, synthesis = _functions(run, state, class_)
    z_dim = run.config.model.z_dim
    ws_rows = mapping(sample.seed_noise(rows, z_dim), psi)
    ws_cols = mapping(sample.seed_noise(cols, z_dim), psi)
    num_ws = ws_rows.shape[1]
    styles = list(range(num_ws // 2)) if styles is None else styles
    if not styles or min(styles) < 0 or max(styles) >= num_ws:
        raise ConfigError(f"--styles must name layers 0 to {num_ws - 1} of this generator")
    take = jnp.zeros((num_ws,), bool).at[jnp.asarray(styles)].set(True)[None, :, None]
    mixed = jnp.where(take, ws_cols[None, :], ws_rows[:, None]).reshape(-1, *ws_rows.shape[1:])
    row_images, col_images, cells = synthesis(ws_rows), synthesis(ws_cols), synthesis(mixed)
    blank = np.zeros_like(col_images[:1])
    grid = [np.concatenate([blank, col_images])]
    for r in range(len(rows)):
        grid.append(np.concatenate([row_images[r : r + 1], cells[r * len(cols) : (r + 1) * len(cols)]]))
    images = np.concatenate(grid)
    return sample.make_grid(images, rows=len(rows) + 1, cols=len(cols) + 1)


def psi_figure(run, state, psis: list[float], seeds: list[int], class_: int = 0) -> np.ndarray:
    """One row per ψ, one column per seed, as one uint8 image."""
    mapping, synthesis = _functions(run, state, class_)
    z = sample.seed_noise(seeds, run.config.model.z_dim)
    images = np.concatenate([synthesis(mapping(z, float(p))) for p in psis])
    return sample.make_grid(images, rows=len(psis), cols=len(seeds))


def main(argv) -> None:
    writers.quiet_library_logs()
    f = flags.FLAGS
    if len(argv) > 1:
        cli.fail(f"unexpected arguments {argv[1:]}")
    if not f.workdir or not f.out:
        cli.fail("--workdir and --out are required")
    if f.mix == bool(f.psi):
        cli.fail("give either --mix or --psi VALUES")
    psis = _parse_psis(f.psi) if f.psi else []
    check_psi(f.trunc, "--trunc")
    if not f.out.lower().endswith(".png"):
        cli.fail(f"--out={f.out!r}: the figure is written as .png")
    if os.path.isdir(f.out):
        cli.fail(f"--out={f.out!r} is a directory; give the .png file to write")
    rows, cols, seeds = (generate.parse_seeds(f[n].value, f"--{n}") for n in ("rows", "cols", "seeds"))
    styles = generate.parse_seeds(f.styles, "--styles") if f.styles else None
    run, state, step = runs.restore_generator(f.workdir, f.checkpoint, _require_stylegan)
    if f.mix:
        image = mixing_figure(run, state, rows, cols, styles, f.trunc, f["class"].value)
    else:
        image = psi_figure(run, state, psis, seeds, f["class"].value)
    try:
        sample.save_png(image, cli.output_path(f.out))
    except OSError as e:
        cli.fail(f"cannot write {f.out}: {e.strerror or e}")
    print(f"wrote {f.out} (step {step})")


def _parse_psis(text: str) -> list[float]:
    try:
        values = [float(p) for p in text.split(",")]
    except ValueError:
        cli.fail(f"--psi={text!r}: expected numbers like 1,0.7,0.5,0")
    return [check_psi(p, "--psi") for p in values]


def console_main() -> None:
    """The ``gan-jax-style-figures`` console script."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
