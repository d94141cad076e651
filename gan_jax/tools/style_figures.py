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
the synthesis uses the stored constant noise. The two halves of the generator, mapping
and synthesis, are `gan_jax.run.style_space`'s.
"""

import os

import numpy as np
from absl import flags

from gan_jax.tools import cli
from gan_jax.tools import generate
from gan_jax.run import generator, seed_sampling, style_space, writers
from gan_jax.run.generator import TrainedGenerator, check_psi
from gan_jax.training import sample
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


def mixing_figure(
    gen: TrainedGenerator,
    rows: list[int],
    cols: list[int],
    styles: list[int] | None = None,
    psi: float = 1.0,
    class_: int = 0,
) -> np.ndarray:
    """(len(rows) + 1, len(cols) + 1) grid as one uint8 image; the top-left cell is empty."""
    space = style_space.of(gen, "style figures")
    labels_class = class_ if gen.num_classes else None
    ws_rows = space.seed_ws(rows, labels_class, psi)
    ws_cols = space.seed_ws(cols, labels_class, psi)
    styles = list(range(space.num_ws // 2)) if styles is None else styles
    if not styles or min(styles) < 0 or max(styles) >= space.num_ws:
        raise ConfigError(f"--styles must name layers 0 to {space.num_ws - 1} of this generator")
    mixed = style_space.mix(ws_rows[:, None], ws_cols[None, :], styles).reshape(-1, *ws_rows.shape[1:])
    row_images, col_images, cells = (space.images(ws) for ws in (ws_rows, ws_cols, mixed))
    blank = np.zeros_like(col_images[:1])
    grid = [np.concatenate([blank, col_images])]
    for r in range(len(rows)):
        grid.append(np.concatenate([row_images[r : r + 1], cells[r * len(cols) : (r + 1) * len(cols)]]))
    return sample.make_grid(np.concatenate(grid), rows=len(rows) + 1, cols=len(cols) + 1)


def psi_figure(gen: TrainedGenerator, psis: list[float], seeds: list[int], class_: int = 0) -> np.ndarray:
    """One row per ψ, one column per seed, as one uint8 image."""
    space = style_space.of(gen, "style figures")
    labels_class = class_ if gen.num_classes else None
    images = np.concatenate([space.images(space.seed_ws(seeds, labels_class, float(p))) for p in psis])
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
    gen = generator.from_checkpoint(f.workdir, f.checkpoint, lambda c: _check_run(c, f["class"].value))
    if f.mix:
        image = mixing_figure(gen, rows, cols, styles, f.trunc, f["class"].value)
    else:
        image = psi_figure(gen, psis, seeds, f["class"].value)
    try:
        sample.save_png(image, cli.output_path(f.out))
    except OSError as e:
        cli.fail(f"cannot write {f.out}: {e.strerror or e}")
    print(f"wrote {f.out} (step {gen.step})")


def _check_run(config, class_: int) -> None:
    """A StyleGAN run, and ``--class`` one of its classes (ignored when unconditional)."""
    style_space.require_stylegan(config, "style figures")
    if config.model.num_classes:
        seed_sampling.check_class(config, class_)


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
