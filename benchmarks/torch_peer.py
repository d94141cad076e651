"""DCGAN in PyTorch, as the speed peer of gan_jax (never a dependency).

`make_dcgan` mirrors `gan_jax.models.dcgan` layer for layer (same kernel sizes, strides,
paddings, widths, biases and BatchNorms), so parameter counts match exactly; the training
step that runs it is `torch_peer_step.GANStep`.
"""

import torch
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
    res, ch, m, s = config.dataset.resolution, config.dataset.channels, config.model, config.model.dcgan
    g = DCGANGenerator(res, ch, s.g_width, m.z_dim)
    d = DCGANDiscriminator(res, ch, s.d_width)
    for module in (g, d):
        for p in module.modules():
            if isinstance(p, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(p.weight, 0.0, 0.02)
    return g, d


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
