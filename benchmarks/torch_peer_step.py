"""One GAN training step in PyTorch for any of the suite's peers: what `gan_jax.training.train_step`
runs for the DCGAN, SNGAN and BigGAN configs (speed peer only, never a dependency).

A step: ``n_critic`` D updates, each on its own real batch (real labels with it) and on
G(z, c̃) made with G held fixed, then one G update on G(z, c̃) through the updated D, then
the EMA of G's parameters. Fresh z ~ N(0, I) and uniform classes c̃ for each update. Every
image D sees goes through DiffAugment when the config has it. Losses are the config's
(``non_saturating``, ``hinge``), Adam with the config's learning rate, betas and ε for each
network, PyTorch's default (foreach) implementation. Models and inputs are channels-last.

Precision: float32, or with ``dtype=torch.bfloat16`` the forward passes under
``torch.autocast`` (float32 parameters and optimizer states, bfloat16 convolutions and
matmuls), the analogue of gan_jax's ``model.dtype='bfloat16'``. ``compile_mode`` wraps the
whole step in ``torch.compile``.

Spectral norm: within each D update the spectrally normalised weights are computed once
(``torch.nn.utils.parametrize.cached()``) and shared by D's real and generated passes, one
power iteration per layer per update, where gan_jax iterates in each pass (two per
update; a matrix-vector product pair per layer, no convolution work). Without it,
``torch.compile`` of a step that runs a ``parametrizations.spectral_norm`` module twice
before the backward fails (torch 2.14: "a variable needed for gradient computation has
been modified by an inplace operation", the power iteration's buffer update).
"""

import copy

import torch
import torch.nn.functional as F
from torch import nn

from torch.nn.utils import parametrize

import torch_peer_diffaugment

D_LOSSES = {
    "non_saturating": lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(),
    "hinge": lambda r, f: F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean(),
}
G_LOSSES = {
    "non_saturating": lambda f: F.softplus(-f).mean(),
    "hinge": lambda f: -f.mean(),
}


class GANStep:
    """``step(reals, real_labels)``: ``n_critic`` real batches (B, C, H, W) and their (B,) int64
    labels. Unconditional networks (``model.num_classes`` 0) are called without labels."""

    def __init__(
        self,
        g: nn.Module,
        d: nn.Module,
        config,
        device: str,
        dtype: torch.dtype,
        compile_mode: str | None = None,
    ):
        self.g = g.to(device).to(memory_format=torch.channels_last)
        self.d = d.to(device).to(memory_format=torch.channels_last)
        self.ema = copy.deepcopy(self.g).requires_grad_(False)
        opt = config.optimizer
        self.g_opt = torch.optim.Adam(
            self.g.parameters(), lr=opt.g.learning_rate, betas=(opt.g.b1, opt.g.b2), eps=opt.g.eps
        )
        self.d_opt = torch.optim.Adam(
            self.d.parameters(), lr=opt.d.learning_rate, betas=(opt.d.b1, opt.d.b2), eps=opt.d.eps
        )
        if config.loss.d_loss not in D_LOSSES or config.loss.g_loss not in G_LOSSES:
            raise ValueError(f"the peer step has no {config.loss.d_loss!r} / {config.loss.g_loss!r} loss")
        self.d_loss, self.g_loss = D_LOSSES[config.loss.d_loss], G_LOSSES[config.loss.g_loss]
        aug = config.augment
        if aug.kind not in ("", "diffaugment"):
            raise ValueError(f"the peer step has no augment.kind={aug.kind!r}")
        self.policy = tuple(op for op in aug.policy.split(",") if op) if aug.kind else ()
        self.n_critic, self.z_dim = config.n_critic, config.model.z_dim
        self.num_classes = config.model.num_classes
        self.device, self.dtype, self.autocast = device, dtype, dtype != torch.float32
        self.ema_decay = config.ema.decay
        self._step = torch.compile(self._eager_step, mode=compile_mode) if compile_mode else self._eager_step

    def _augment(self, x):
        return torch_peer_diffaugment.diff_augment(x, self.policy) if self.policy else x

    def _g(self, z, y):
        return self.g(z, y) if self.num_classes else self.g(z)

    def _d(self, x, y):
        return self.d(self._augment(x), y) if self.num_classes else self.d(self._augment(x))

    def _noise(self, b):
        z = torch.randn(b, self.z_dim, device=self.device)
        y = torch.randint(0, max(self.num_classes, 1), (b,), device=self.device)
        return z, y

    def _eager_step(self, reals: list[torch.Tensor], real_labels: list[torch.Tensor]):
        b = reals[0].shape[0]
        for i in range(self.n_critic):
            with torch.autocast(self.device, dtype=self.dtype, enabled=self.autocast):
                z, y = self._noise(b)
                with torch.no_grad():
                    fake = self._g(z, y)
                with parametrize.cached():  # D's normalised weights once for both passes
                    real_scores = self._d(reals[i], real_labels[i])
                    fake_scores = self._d(fake, y)
                d_loss = self.d_loss(real_scores, fake_scores)
            self.d_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            self.d_opt.step()
        with torch.autocast(self.device, dtype=self.dtype, enabled=self.autocast):
            z, y = self._noise(b)
            g_loss = self.g_loss(self._d(self._g(z, y), y))
        self.g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        self.g_opt.step()
        with torch.no_grad():
            torch._foreach_lerp_(list(self.ema.parameters()), list(self.g.parameters()), 1.0 - self.ema_decay)
        return d_loss.detach(), g_loss.detach()

    def __call__(self, reals: list[torch.Tensor], real_labels: list[torch.Tensor]):
        return self._step(reals, real_labels)
