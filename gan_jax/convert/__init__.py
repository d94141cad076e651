"""Converters of other codebases' weights: NVlabs' StyleGAN2, brownvc's R3GAN, the FID Inception,
LPIPS (VGG16 and the lpips package's linear heads)."""
