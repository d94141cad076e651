"""NVlabs' StyleGAN2 state dict → a new gan_jax run (`gan_jax.convert.stylegan2`).

    python -m gan_jax.tools.convert_stylegan2 --src ffhq.npz --config configs/stylegan2_ffhq1024.py \\
        --workdir runs/ffhq1024
"""

from gan_jax.convert import stylegan2
from gan_jax.tools import convert

if __name__ == "__main__":
    convert.run_converter("stylegan2", stylegan2.convert, "stylegan2_ffhq1024")
