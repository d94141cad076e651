"""The same GAN training step in PyTorch, as the speed peer of gan_jax (never a dependency).

`make_dcgan` mirrors `gan_jax.models.dcgan` layer for layer (same kernel sizes, strides,
paddings, widths, biases and BatchNorms), so parameter counts match exactly; `TorchStep`
runs what `gan_jax.train_step` runs for those configs: one D update on (real, G(z₁))
with the non-saturating loss, one G update on G(z₂) through the updated D, both with
Adam(2e-4, β=(0.5, 0.999)), then the EMA of G's parameters.
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn


def _dcgan_layout(resolution: int) -> tuple[int, int]:
    return {28: (7, 2), 32: (4, 3), 64: (4, 4)}[resolution]


class DCGANGenerator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: int, z_dim: int):
        super().__init__()
        base, ups = _dcgan_layout(resolution)
        features = width * 2 ** (ups - 1)
        self.base, self.features = base, features
        self.project = nn.Linear(z_dim, base * base * features, bias=False)
        layers = [nn.BatchNorm2d(features, momentum=0.1, eps=1e-5), nn.ReLU()]
        for _ in range(ups - 1):
            layers += [
                nn.ConvTranspose2d(features, features // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(features // 2, momentum=0.1, eps=1e-5),
                nn.ReLU(),
            ]
            features //= 2
        layers += [nn.ConvTranspose2d(features, channels, 4, 2, 1, bias=True), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        x = self.project(z).view(z.shape[0], self.base, self.base, self.features)
        return self.body(x.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last))


class DCGANDiscriminator(nn.Module):
    def __init__(self, resolution: int, channels: int, width: int):
        super().__init__()
        _, downs = _dcgan_layout(resolution)
        layers, cin = [], channels
        for i in range(downs):
            layers.append(nn.Conv2d(cin, width * 2**i, 4, 2, 1, bias=i == 0))
            if i > 0:
                layers.append(nn.BatchNorm2d(width * 2**i, momentum=0.1, eps=1e-5))
            layers.append(nn.LeakyReLU(0.2))
            cin = width * 2**i
        self.body = nn.Sequential(*layers)
        size = resolution // 2**downs
        self.logit = nn.Linear(cin * size * size, 1)

    def forward(self, x):
        return self.logit(torch.flatten(self.body(x), 1))[:, 0]


def make_dcgan(config) -> tuple[nn.Module, nn.Module]:
    res, ch, m = config.dataset.resolution, config.dataset.channels, config.model
    g = DCGANGenerator(res, ch, m.g_width, m.z_dim)
    d = DCGANDiscriminator(res, ch, m.d_width)
    for module in (g, d):
        for p in module.modules():
            if isinstance(p, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(p.weight, 0.0, 0.02)
    return g, d


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class TorchStep:
    """One GAN train step in PyTorch: D update, G update, EMA — as gan_jax's default."""

    def __init__(
        self,
        g: nn.Module,
        d: nn.Module,
        config,
        device: str,
        dtype: torch.dtype,
        compile_mode: str | None = None,
        channels_last: bool = True,
    ):
        self.g, self.d = g.to(device), d.to(device)
        if channels_last:
            self.g = self.g.to(memory_format=torch.channels_last)
            self.d = self.d.to(memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.g).requires_grad_(False)
        opt = config.optimizer
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=opt.g.learning_rate, betas=(opt.g.b1, opt.g.b2))
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=opt.d.learning_rate, betas=(opt.d.b1, opt.d.b2))
        self.z_dim, self.device, self.dtype = config.model.z_dim, device, dtype
        self.ema_decay = config.ema.decay
        self.autocast = dtype != torch.float32
        self._step = torch.compile(self._eager_step, mode=compile_mode) if compile_mode else self._eager_step

    def _eager_step(self, real: torch.Tensor):
        b = real.shape[0]
        with torch.autocast(self.device, dtype=self.dtype, enabled=self.autocast):
            z = torch.randn(b, self.z_dim, device=self.device)
            with torch.no_grad():
                fake = self.g(z)
            real_logits, fake_logits = self.d(real), self.d(fake)
            d_loss = F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        self.d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        self.d_opt.step()
        with torch.autocast(self.device, dtype=self.dtype, enabled=self.autocast):
            z = torch.randn(b, self.z_dim, device=self.device)
            g_loss = F.softplus(-self.d(self.g(z))).mean()
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.g.parameters()), 1.0 - self.ema_decay)
        return d_loss.detach(), g_loss.detach()

    def __call__(self, real: torch.Tensor):
        return self._step(real)
