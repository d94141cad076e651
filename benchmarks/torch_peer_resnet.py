"""SNGAN's and BigGAN's networks in PyTorch, as speed peers of gan_jax (never a dependency).

Written from `gan_jax.models.resnet` and `gan_jax.models.biggan` layer for layer: the same
blocks, kernel sizes, widths, biases, BatchNorms (PyTorch momentum 0.1 = Flax 0.9,
ε = 1e-5), nearest 2× up-sampling, 2×2 average pooling, global sum pooling, hierarchical z,
shared class embedding, modulated BatchNorm, self-attention with 2×2 max-pooled keys and
values, and the projection term, so that the parameter counts are exactly gan_jax's (the
suite checks them before timing). Spectral normalisation is
``torch.nn.utils.parametrizations.spectral_norm`` (one power iteration per forward in
training mode, as ``layers.spectral_norm``). Initialisation: Xavier-uniform for SNGAN,
orthogonal for BigGAN, as gan_jax; the values do not change the work timed.

Precision: float32 parameters; under ``torch.autocast(dtype=torch.bfloat16)`` convolutions,
linear layers and the attention products compute in bfloat16, as gan_jax's
``model.dtype='bfloat16'`` does. Unlike gan_jax, autocast also runs spectral norm's
power-iteration products in bfloat16 (a few matrix-vector products per layer).
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

# (base size, number of 2× steps), as gan_jax.models.resnet.RESOLUTIONS.
RESOLUTIONS = {28: (7, 2), 32: (4, 3), 64: (4, 4), 128: (4, 5)}
# As gan_jax.models.biggan: multiples of the width per G block, (multiple, down?) per D block.
BIGGAN_G_CHANNELS = {28: (1, 1), 32: (1, 1, 1), 64: (8, 4, 2, 1), 128: (16, 8, 4, 2, 1)}
BIGGAN_D_CHANNELS = {
    28: ((1, True), (1, True), (1, False)),
    32: ((1, True), (1, True), (1, False), (1, False)),
    64: ((1, True), (2, True), (4, True), (8, True), (8, False)),
    128: ((1, True), (2, True), (4, True), (8, True), (16, True), (16, False)),
}


def _sn(module: nn.Module, spectral: bool) -> nn.Module:
    return spectral_norm(module) if spectral else module


def _up(x):
    return F.interpolate(x, scale_factor=2, mode="nearest")


def _down(x):
    return F.avg_pool2d(x, 2)


def _init_weights(module: nn.Module, init, kinds: tuple) -> None:
    """``init`` on the weight of every layer of ``kinds``; a spectrally normalised layer's
    stored (un-normalised) weight, not the normalised one computed from it."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, kinds):
                parametrized = getattr(m, "parametrizations", None)
                init(parametrized.weight.original if parametrized is not None else m.weight)


def _bn(features: int, affine: bool = True) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(features, momentum=0.1, eps=1e-5, affine=affine)


class ModulatedBatchNorm(nn.Module):
    """BatchNorm without affine terms, then x·(1 + W_γ c) + W_β c (BigGAN's conditional BN)."""

    def __init__(self, features: int, cond_dim: int, spectral: bool):
        super().__init__()
        self.bn = _bn(features, affine=False)
        self.gamma = _sn(nn.Linear(cond_dim, features, bias=False), spectral)
        self.beta = _sn(nn.Linear(cond_dim, features, bias=False), spectral)

    def forward(self, x, cond):
        x = self.bn(x)
        gamma, beta = self.gamma(cond)[:, :, None, None], self.beta(cond)[:, :, None, None]
        return x * (1.0 + gamma) + beta


class GBlock(nn.Module):
    """(norm, ReLU, 2× up, conv3, norm, ReLU, conv3) + conv1(2× up); norms plain or modulated."""

    def __init__(self, cin: int, cout: int, cond_dim: int = 0, spectral: bool = False):
        super().__init__()
        if cond_dim:
            self.norm0 = ModulatedBatchNorm(cin, cond_dim, spectral)
            self.norm1 = ModulatedBatchNorm(cout, cond_dim, spectral)
        else:
            self.norm0, self.norm1 = _bn(cin), _bn(cout)
        self.conv0 = _sn(nn.Conv2d(cin, cout, 3, padding=1), spectral)
        self.conv1 = _sn(nn.Conv2d(cout, cout, 3, padding=1), spectral)
        self.shortcut = _sn(nn.Conv2d(cin, cout, 1), spectral)
        self.conditional = bool(cond_dim)

    def _norm(self, norm, x, cond):
        return norm(x, cond) if self.conditional else norm(x)

    def forward(self, x, cond=None):
        h = self.conv0(_up(F.relu(self._norm(self.norm0, x, cond))))
        h = self.conv1(F.relu(self._norm(self.norm1, h, cond)))
        return h + self.shortcut(_up(x))


class DBlock(nn.Module):
    """Pre-activation down-block, every convolution spectrally normalised (gan_jax's DBlock)."""

    def __init__(self, cin: int, cout: int, downsample: bool = True, first: bool = False):
        super().__init__()
        self.conv0 = spectral_norm(nn.Conv2d(cin, cout, 3, padding=1))
        self.conv1 = spectral_norm(nn.Conv2d(cout, cout, 3, padding=1))
        self.downsample, self.first = downsample, first
        self.learned = first or downsample or cin != cout
        if self.learned:
            self.shortcut = spectral_norm(nn.Conv2d(cin, cout, 1))

    def forward(self, x):
        h = x if self.first else F.relu(x)
        h = self.conv1(F.relu(self.conv0(h)))
        if self.downsample:
            h = _down(h)
        if self.first:
            return h + self.shortcut(_down(x))
        if self.learned:
            s = self.shortcut(x)
            return h + (_down(s) if self.downsample else s)
        return h + x


class SelfAttention(nn.Module):
    """SAGAN self-attention as gan_jax's: f, g with C/8 channels, h with C/2, keys and values
    2×2 max-pooled, softmax in float32, y = x + γ·W_o(attention), γ starting at 0."""

    def __init__(self, c: int, spectral: bool = True):
        super().__init__()
        conv = lambda cin, cout: _sn(nn.Conv2d(cin, cout, 1, bias=False), spectral)  # noqa: E731
        self.query, self.key, self.value = conv(c, c // 8), conv(c, c // 8), conv(c, c // 2)
        self.out = conv(c // 2, c)
        self.gamma = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        b, c, h, w = x.shape
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, C/8)
        k = F.max_pool2d(self.key(x), 2).flatten(2)  # (B, C/8, HW/4)
        v = F.max_pool2d(self.value(x), 2).flatten(2).transpose(1, 2)  # (B, HW/4, C/2)
        attention = torch.softmax(torch.bmm(q, k).float(), dim=-1).to(v.dtype)
        o = torch.bmm(attention, v).transpose(1, 2).reshape(b, c // 2, h, w)
        return x + self.gamma * self.out(o)


class SNGANGenerator(nn.Module):
    """`gan_jax.models.resnet.Generator`, unconditional: z → 4×4 map → up-blocks → BN, ReLU, conv3, tanh."""

    def __init__(self, resolution: int, channels: int, width: int, z_dim: int):
        super().__init__()
        self.base, ups = RESOLUTIONS[resolution]
        self.width = width
        self.project = nn.Linear(z_dim, self.base * self.base * width)
        self.blocks = nn.ModuleList(GBlock(width, width) for _ in range(ups))
        self.norm = _bn(width)
        self.to_image = nn.Conv2d(width, channels, 3, padding=1)

    def forward(self, z, labels=None):
        x = self.project(z).view(z.shape[0], self.base, self.base, self.width).permute(0, 3, 1, 2)
        for block in self.blocks:
            x = block(x)
        return torch.tanh(self.to_image(F.relu(self.norm(x))).float())


class SNGANDiscriminator(nn.Module):
    """`gan_jax.models.resnet.Discriminator`, unconditional: the optimised first block, down-blocks
    (the last two keep the size), ReLU, global sum pooling, a spectrally normalised linear layer."""

    def __init__(self, resolution: int, channels: int, width: int):
        super().__init__()
        _, downs = RESOLUTIONS[resolution]
        blocks = [DBlock(channels, width, downsample=True, first=True)]
        blocks += [DBlock(width, width, downsample=i < downs - 1) for i in range(1, downs + 1)]
        self.blocks = nn.Sequential(*blocks)
        self.logit = spectral_norm(nn.Linear(width, 1))

    def forward(self, x, labels=None):
        h = torch.sum(F.relu(self.blocks(x)).float(), dim=(2, 3))
        return self.logit(h)[:, 0].float()


def z_chunks(z_dim: int, num_blocks: int) -> list[int]:
    """As gan_jax.models.biggan.z_chunks: one chunk per block and the input, near-equal."""
    n = num_blocks + 1
    return [z_dim // n + (1 if i < z_dim % n else 0) for i in range(n)]


class BigGANGenerator(nn.Module):
    """`gan_jax.models.biggan.Generator`: hierarchical z, shared class embedding, modulated
    BatchNorms, spectral norm everywhere, self-attention at ``attention_res``."""

    def __init__(
        self,
        resolution: int,
        channels: int,
        width: int,
        z_dim: int,
        num_classes: int,
        shared_dim: int,
        hierarchical_z: bool,
        attention_res: int,
    ):
        super().__init__()
        self.base, ups = RESOLUTIONS[resolution]
        widths = [width * m for m in BIGGAN_G_CHANNELS[resolution]]
        self.widths, self.hierarchical = widths, hierarchical_z
        self.chunks = z_chunks(z_dim, ups) if hierarchical_z else [z_dim]
        self.shared = nn.Embedding(num_classes, shared_dim) if num_classes else None
        shared = shared_dim if num_classes else 0
        cond_dims = [shared + c for c in self.chunks[1:]] if hierarchical_z else [shared] * ups
        self.project = spectral_norm(nn.Linear(self.chunks[0], self.base * self.base * widths[0]))
        self.blocks, self.attention, size = nn.ModuleList(), nn.ModuleDict(), self.base
        cin = widths[0]
        for i, cout in enumerate(widths):
            self.blocks.append(GBlock(cin, cout, cond_dims[i], spectral=True))
            size *= 2
            if size == attention_res:
                self.attention[str(i)] = SelfAttention(cout)
            cin = cout
        self.norm = _bn(widths[-1])
        self.to_image = spectral_norm(nn.Conv2d(widths[-1], channels, 3, padding=1))
        _init_weights(self, nn.init.orthogonal_, (nn.Conv2d, nn.Linear, nn.Embedding))

    def forward(self, z, labels=None):
        if self.hierarchical:
            parts = list(torch.split(z, self.chunks, dim=1))
        else:
            parts = [z] + [None] * len(self.blocks)
        shared = self.shared(labels) if self.shared is not None else None

        def cond(chunk):
            pieces = [t for t in (shared, chunk) if t is not None]
            return torch.cat(pieces, dim=1) if pieces else None

        x = self.project(parts[0]).view(z.shape[0], self.base, self.base, self.widths[0]).permute(0, 3, 1, 2)
        for i, block in enumerate(self.blocks):
            x = block(x, cond(parts[i + 1]))
            if str(i) in self.attention:
                x = self.attention[str(i)](x)
        return torch.tanh(self.to_image(F.relu(self.norm(x))).float())


class BigGANDiscriminator(nn.Module):
    """`gan_jax.models.biggan.Discriminator`: widening down-blocks, self-attention at
    ``attention_res``, global sum pooling, linear logit plus the projection term."""

    def __init__(self, resolution: int, channels: int, width: int, num_classes: int, attention_res: int):
        super().__init__()
        blocks, size, cin, attended = [], resolution, channels, False
        for i, (mult, down) in enumerate(BIGGAN_D_CHANNELS[resolution]):
            blocks.append(DBlock(cin, width * mult, downsample=down, first=i == 0))
            cin, size = width * mult, size // 2 if down else size
            if size == attention_res and not attended:
                blocks.append(SelfAttention(cin))
                attended = True
        self.blocks = nn.Sequential(*blocks)
        self.logit = spectral_norm(nn.Linear(cin, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, cin)) if num_classes else None
        _init_weights(self, nn.init.orthogonal_, (nn.Conv2d, nn.Linear))
        _init_weights(self, lambda w: nn.init.normal_(w, 0.0, 0.02), (nn.Embedding,))

    def forward(self, x, labels=None):
        h = torch.sum(F.relu(self.blocks(x)).float(), dim=(2, 3))
        logit = self.logit(h)[:, 0]
        if self.embed is not None:
            logit = logit + torch.sum(self.embed(labels).float() * h, dim=1)
        return logit.float()


def make_sngan(config) -> tuple[nn.Module, nn.Module]:
    """SNGAN's G and D for a gan_jax config (attribute access: ``config.model.sngan.g_width``)."""
    res, ch, m, s = config.dataset.resolution, config.dataset.channels, config.model, config.model.sngan
    if m.num_classes:
        raise ValueError("the SNGAN peer is unconditional (model.num_classes=0)")
    g, d = SNGANGenerator(res, ch, s.g_width, m.z_dim), SNGANDiscriminator(res, ch, s.d_width)
    for net in (g, d):
        _init_weights(net, nn.init.xavier_uniform_, (nn.Conv2d, nn.Linear))
    return g, d


def make_biggan(config) -> tuple[nn.Module, nn.Module]:
    """BigGAN's G and D for a gan_jax config."""
    res, ch, m, s = config.dataset.resolution, config.dataset.channels, config.model, config.model.biggan
    g = BigGANGenerator(
        res, ch, s.g_width, m.z_dim, m.num_classes, s.shared_dim, s.hierarchical_z, s.attention_res
    )
    d = BigGANDiscriminator(res, ch, s.d_width, m.num_classes, s.attention_res)
    return g, d
