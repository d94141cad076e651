"""Converters of other codebases' weights: NVlabs' StyleGAN2, brownvc's R3GAN, the FID Inception."""
