"""DiffAugment in PyTorch, as `gan_jax.augment.diff_augment` computes it (speed peer only).

On (B, C, H, W) images, each op with its own random values per image, in the paper's order:

    color:       x ← x + (u₁ − ½);  x ← m_c + 2u₂ (x − m_c);  x ← m + (u₃ + ½)(x − m)
    translation: shift by (dy, dx) uniform in {−s..s}², s = round(size/8), zero fill
    cutout:      zero a square of side round(size/2) at a uniform centre (it may cross
                 the border)

with m_c the mean over channels and m the mean over the whole image. Differentiable in the
images (gathers and masks), so G's gradient flows through it.
"""

import torch
import torch.nn.functional as F


def _per_image(x: torch.Tensor) -> torch.Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def color(x: torch.Tensor) -> torch.Tensor:
    x = x + (_per_image(x) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_per_image(x) * 2.0) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_per_image(x) + 0.5) + mean


def translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    b, c, h, w = x.shape
    s = int(h * ratio + 0.5)
    shifts = torch.randint(-s, s + 1, (b, 2), device=x.device)
    padded = F.pad(x, (s, s, s, s))
    rows = torch.arange(h, device=x.device)[None, :] + s - shifts[:, :1]  # (B, H)
    cols = torch.arange(w, device=x.device)[None, :] + s - shifts[:, 1:]  # (B, W)
    x = padded.gather(2, rows[:, None, :, None].expand(b, c, h, w + 2 * s))
    return x.gather(3, cols[:, None, None, :].expand(b, c, h, w))


def cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    b, _, h, w = x.shape
    size_h, size_w = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - size_h % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - size_w % 2), (b, 1, 1), device=x.device)
    rows = torch.arange(h, device=x.device)[None, :, None]
    cols = torch.arange(w, device=x.device)[None, None, :]
    top, left = cy - size_h // 2, cx - size_w // 2
    inside = (rows >= top) & (rows < top + size_h) & (cols >= left) & (cols < left + size_w)
    return x * (~inside).to(x.dtype)[:, None]


OPS = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: tuple[str, ...]) -> torch.Tensor:
    for name in ("color", "translation", "cutout"):
        if name in policy:
            x = OPS[name](x)
    return x
