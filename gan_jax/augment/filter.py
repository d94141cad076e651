"""ADA's image-space filtering: random amplification of four frequency bands.

Karras et al. 2020 ("Training Generative Adversarial Networks with Limited Data",
appendix B, "Image-space filtering") split the spectrum into four bands,
[0, π/8], [π/8, π/4], [π/4, π/2], [π/2, π], with a bank of symmetric FIR filters
built from the 'sym2' wavelet, and scale each band with probability p by

    t_i = 2^(N(0, 1)),    then  t ← t / √(Σ_j e_j t_j²),   e = (10, 1, 1, 1)/13,

the normalisation keeping the expected power of a 1/f-spectrum image unchanged. The
four draws compound: g = Π_i t⁽ⁱ⁾ (each t⁽ⁱ⁾ is the all-ones vector with entry i
replaced, then normalised). The image is filtered separably (rows, then columns) by
the per-image filter g · bank, with reflect padding.
"""

import jax
import jax.numpy as jnp
import numpy as np

# Low-pass decomposition filter of the Symlet-2 (= Daubechies-2) wavelet: the published
# coefficients, Σh = √2.
SYM2 = (-0.12940952255092145, 0.22414386804185735, 0.836516303737469, 0.48296291314469025)
EXPECTED_POWER = np.array([10.0, 1.0, 1.0, 1.0]) / 13.0  # of the bands, for a 1/f spectrum
BANDS = 4


def filter_bank() -> np.ndarray:
    """(4, 43) float32: row i passes band i; the rows sum to the unit impulse.

    H(z) is the sym2 low-pass and H(−z) its high-pass mirror; the half-band pair is
    L = H(z)H(z⁻¹)/2, Hh = H(−z)H(−z⁻¹)/2 (L + Hh = δ). Each octave dilates the rows
    found so far by 2 (halving their frequencies), low-passes them with L, and adds Hh,
    centred, to the next row.
    """
    lo = np.asarray(SYM2, np.float64)
    hi = lo * (-1.0) ** np.arange(lo.size)
    lo2, hi2 = np.convolve(lo, lo[::-1]) / 2, np.convolve(hi, hi[::-1]) / 2
    bank = np.zeros((BANDS, 1))
    bank[0, 0] = 1.0
    for band in range(1, BANDS):
        dilated = np.zeros((BANDS, 2 * bank.shape[1] - 1))
        dilated[:, ::2] = bank
        bank = np.stack([np.convolve(row, lo2) for row in dilated])
        start = (bank.shape[1] - hi2.size) // 2
        bank[band, start : start + hi2.size] += hi2
    return bank.astype(np.float32)


BANK = filter_bank()


def band_gains(normals: jax.Array, applied: jax.Array) -> jax.Array:
    """(B, 4) gains g from per-band normals and masks (B, 4) (``applied``: the band's draw
    fired); an image with no band fired gets g = 1 / √(Σe) = 1."""
    e = jnp.asarray(EXPECTED_POWER, jnp.float32)
    g = jnp.ones(normals.shape, jnp.float32)
    for i in range(BANDS):
        t_i = jnp.where(applied[:, i], jnp.exp2(normals[:, i]), 1.0)
        t = jnp.ones_like(g).at[:, i].set(t_i)
        g = g * t / jnp.sqrt(jnp.sum(e * t * t, axis=1, keepdims=True))
    return g


def apply_filter(x: jax.Array, gains: jax.Array) -> jax.Array:
    """Filters NHWC ``x`` with the separable per-image filter ``gains @ BANK``.

    All B·C planes go through one depthwise convolution per axis (channel index b·C + c).
    Reflect padding by the filter's half-width (21); images under 22 pixels reflect
    repeatedly (numpy's convention) where NVlabs would refuse them.
    """
    b, h, w, c = x.shape
    taps = gains.astype(jnp.float32) @ jnp.asarray(BANK)  # (B, 43)
    half = BANK.shape[1] // 2
    planes = jnp.transpose(x, (1, 2, 0, 3)).reshape(1, h, w, b * c)
    planes = jnp.pad(planes, ((0, 0), (half, half), (half, half), (0, 0)), mode="reflect")
    kernel = jnp.repeat(taps, c, axis=0).T  # (43, B·C)
    dims = ("NHWC", "HWIO", "NHWC")
    planes = jax.lax.conv_general_dilated(
        planes, kernel[None, :, None, :], (1, 1), "VALID", dimension_numbers=dims, feature_group_count=b * c
    )
    planes = jax.lax.conv_general_dilated(
        planes, kernel[:, None, None, :], (1, 1), "VALID", dimension_numbers=dims, feature_group_count=b * c
    )
    return jnp.transpose(planes.reshape(h, w, b, c), (2, 0, 1, 3)).astype(x.dtype)
