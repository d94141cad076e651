"""brownvc's R3GAN state dict → a new gan_jax run (`gan_jax.convert.r3gan`).

    python -m gan_jax.tools.convert_r3gan --src cifar10.npz --config configs/r3gan_cifar10.py \\
        --workdir runs/r3gan_cifar10
"""

from gan_jax.convert import r3gan
from gan_jax.tools import convert

if __name__ == "__main__":
    convert.run_converter("r3gan", r3gan.convert, "r3gan_cifar10")
