"""The config schema: every field a config has, its default, and validation.

Experiment files in ``configs/`` start from `base_config()` and change what they need;
`validate` (`gan_jax.config.checks`) turns an impossible combination into one
`ConfigError` line before any work starts. A config.json written before the per-architecture
sections existed is read into them (`upgrade`). Field reference:

seed                 int: initialisation, noise and data order all derive from it
batch_size           int: global batch (over all devices and processes)
num_steps            int: train steps; one step = ``n_critic`` D updates + 1 G update
n_critic             int: D updates per G update (each on its own real batch)
phase_order          'd_first' (D main, D reg, G main, G reg: Goodfellow et al. 2014, Algorithm 1;
                     DCGAN, SNGAN, BigGAN and R3GAN's loop) | 'g_first' (G main, G reg, D main,
                     D reg: NVlabs' StyleGAN2-ADA loop, whose G step sees D before the step's D
                     update); see `gan_jax.training.phases.build_phases`
log_every            int: progress line, metrics.jsonl and TensorBoard scalars
sample_every         int: PNG grid of EMA samples from a fixed noise batch (0: only at the end)
checkpoint_every     int: orbax checkpoint (one is always written at the end)
keep_checkpoints     int: how many recent checkpoints to keep
lazy_dispatch        how lazy phases are scheduled: 'variants' (default: a compiled step per
                     pattern of due phases, picked by the host) or 'cond' (one program,
                     `jax.lax.cond` inside); same results to rounding, see docs/training_step.md
nonfinite            'stop' (default): a NaN/Inf loss or gradient stops the run, naming the
                     step and the quantity; 'skip': such steps leave the state unchanged
                     and are counted (``skipped_steps`` in metrics.jsonl)
eval_every           int: compute eval.metrics every N steps and at the end (0: off)
eval.*               metrics, num_samples, split, batch_size, cache_dir, best_metric,
                     inception_weights
dataset.*            source, name, path, split, resolution, channels, resize, classes,
                     max_examples, ...: see `gan_jax.data.sources`; mirror, workers, prefetch:
                     see `gan_jax.data.pipeline`
model.*              the fields every architecture has: architecture ('dcgan' | 'sngan' (ResNet,
                     spectrally normalised D) | 'biggan' | 'stylegan2' | 'r3gan'), z_dim,
                     num_classes (0: unconditional; N: conditional on the dataset's N labels),
                     dtype (compute dtype of the DCGAN, SNGAN and BigGAN, 'float32' or
                     'bfloat16': parameters, optimizer states, normalisation statistics,
                     spectral norm and the outputs stay float32; StyleGAN2 and R3GAN set
                     num_bf16_res in their section instead)
model.<architecture>.*  that architecture's own fields, only read when it is the one built
                     (`ARCHITECTURE_FIELDS`): dcgan, sngan: g_width, d_width (channels of the
                     layer nearest the image), bn_momentum (Flax convention); biggan: those and
                     shared_dim, hierarchical_z, attention_res (see gan_jax.models.biggan);
                     stylegan2: w_dim, mapping_layers, mapping_lr_mul, channel_base,
                     channel_max, style_mixing_prob, w_avg_beta, w_avg_update ('every_pass':
                     w̄ moves in every training pass of the mapping network, as NVlabs'; or
                     'g_main'), mbstd_group, mbstd_channels, conv_clamp, num_bf16_res,
                     d_architecture (see gan_jax.models.stylegan2); r3gan: g_width, d_width,
                     stage_widths, stage_blocks, stage_groups, expansion, embed_dim,
                     num_bf16_res (see gan_jax.models.r3gan)
ops.*                how backend-specific operations compute, the same function either way
                     (so never part of a run's identity): conv_transpose, conv_batch_slices,
                     conv_weight_grad (DCGAN's 4×4 stride-2 convolutions), fused_modconv
                     (StyleGAN2's modulated convolutions); see gan_jax.ops
optimizer.{g,d}.*    learning_rate, b1, b2, eps (Adam); weight_decay (decoupled, AdamW);
                     l1, l2 (explicit loss penalties); grad_clip (global norm, 0: off);
                     final_learning_rate, final_b2 (scheduled, see schedule.*)
schedule.*           shape ('cosine' | 'linear') and kimg (duration; 0: the whole run) of every
                     scheduled value: each field with a ``final_*`` twin moves from its value
                     to the twin's (None: constant); see `gan_jax.training.schedules`
loss.d_loss/g_loss   one of `gan_jax.training.losses.D_LOSSES` / `G_LOSSES` ('relativistic': RpGAN)
loss.fake_labels     'sampled' (uniform classes for generated images) | 'real' (the real
                     batch's classes, pairing each generated image with a real one: R3GAN)
loss.g_real_batch    'shared' (G's phase pairs with the step's last D batch) | 'own' (G's phase
                     reads a real batch of its own, the step reading n_critic + 1 batches: R3GAN's
                     loop); only for a G loss that reads real images (relativistic)
regularizer.*        r1_gamma, r1_every, r2_gamma, r2_every (every > 1: lazy, own phase),
                     gp_lambda, lecam_lambda, lecam_decay, pl_weight, pl_every, pl_decay,
                     pl_batch_shrink: see `gan_jax.training.regularizers`, `gan_jax.training.terms`
augment.*            kind ('' | 'diffaugment' | 'ada'), policy, ada_pipeline ('bgc', ...), ada_p,
                     ada_target, ada_interval, ada_kimg: see `gan_jax.augment`
ema.*                decay, warmup, half_life_kimg, rampup: generator EMA; see
                     `gan_jax.training.state.ema_decay`
sample.num_images    images in the sample grid
sample.standing_stats  batch used to recompute BatchNorm statistics of the EMA generator
microbatches         int M: gradient accumulation, M sequential micro-batches of batch_size / M
                     per update (docs/fine_tuning.md says what BatchNorm statistics then are)
microbatches_as      'big_batch' (the mean of the M gradients, running averages moved once by
                     the batch's statistics: the big batch's update) | 'rounds' (NVlabs' rounds
                     of batch_gpu images: gradients summed, running averages chained through
                     the rounds), see `gan_jax.training.accumulate`
init_from            fine-tuning: start step 0 from the G, D and EMA of a workdir, checkpoint
                     folder or converted model (init_optimizer: its Adam states too);
                     freeze_d: the first N D blocks from the image stay fixed (Mo et al. 2020)
wandb.*              enabled, project, entity, name, mode ('online' | 'offline'), tags:
                     optional Weights & Biases logging, see `gan_jax.run.writers`
distributed.*        enabled (None: auto), coordinator_address, num_processes, process_id:
                     see docs/multihost.md
"""

import json

import ml_collections
from ml_collections import config_dict

from gan_jax.config.checks import validate as validate
from gan_jax.errors import ConfigError


def _optimizer() -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(
        dict(
            learning_rate=2e-4,
            b1=0.5,
            b2=0.999,
            eps=1e-8,
            weight_decay=0.0,
            l1=0.0,
            l2=0.0,
            grad_clip=0.0,
            final_learning_rate=config_dict.placeholder(float),  # scheduled (see `schedule`); None: constant
            final_b2=config_dict.placeholder(float),
        )
    )


def _widths(**more) -> ml_collections.ConfigDict:
    return ml_collections.ConfigDict(dict(g_width=64, d_width=64, **more))


def _model() -> ml_collections.ConfigDict:
    """The fields every architecture has, and one section per architecture."""
    m = ml_collections.ConfigDict(dict(architecture="dcgan", z_dim=100, num_classes=0, dtype="float32"))
    m.dcgan = _widths(bn_momentum=0.9)
    m.sngan = _widths(bn_momentum=0.9)
    m.biggan = _widths(
        bn_momentum=0.9,
        shared_dim=128,  # size of the shared class embedding
        hierarchical_z=True,  # a chunk of z for each generator block
        attention_res=0,  # feature-map size with self-attention (0: none)
    )
    m.stylegan2 = ml_collections.ConfigDict(
        dict(
            w_dim=512,  # size of w, the mapping network's output
            mapping_layers=8,  # G's mapping depth (NVlabs' cifar config: 2)
            mapping_lr_mul=0.01,  # learning-rate multiplier of the mapping layers (G and D)
            channel_base=32768,  # channels at resolution r: min(channel_base // r, channel_max)
            channel_max=512,
            style_mixing_prob=0.9,  # probability of mixing two latents in training (0: off)
            w_avg_beta=0.995,  # decay of the running mean of w used by truncation
            w_avg_update="every_pass",  # w̄ moves in 'every_pass' of G's mapping (NVlabs) | 'g_main'
            mbstd_group=4,  # minibatch-std group size (D)
            mbstd_channels=1,  # minibatch-std feature maps (0: off)
            conv_clamp=256.0,  # clamp every convolution's output to ±conv_clamp (0: off)
            num_bf16_res=0,  # compute the N highest resolutions in bfloat16
            d_architecture="resnet",  # 'resnet' (residual D) | 'orig' (plain D, NVlabs' cifar)
        )
    )
    m.r3gan = _widths(
        stage_widths=(),  # channels per stage, 4x4 first (empty: g_width / d_width each)
        stage_blocks=(),  # residual blocks per stage (empty: 2 each)
        stage_groups=(),  # groups of each stage's 3x3 conv (empty: expanded width / 16)
        expansion=2,  # inverted-bottleneck expansion factor
        embed_dim=0,  # class embedding size (0: z_dim in G, the 4x4 width in D)
        num_bf16_res=0,  # compute the N highest resolutions in bfloat16
    )
    return m


def _ops() -> ml_collections.ConfigDict:
    """How backend-specific operations compute (the same function either way, `gan_jax.ops`)."""
    return ml_collections.ConfigDict(
        dict(
            conv_transpose="auto",  # dcgan: 'native' | 'adjoint' | 'subpixel' | 'auto' (adjoint on CPU)
            conv_batch_slices=0,  # dcgan: batch slices per 4x4 stride-2 conv; 0: by layer size
            conv_weight_grad="auto",  # dcgan: 'conv' | 'taps' | 'auto' (taps on CPU for <= 4 channels)
            fused_modconv="auto",  # stylegan2: 'fused' | 'nonfused' | 'auto'
        )
    )


ARCHITECTURES = ("dcgan", "sngan", "biggan", "stylegan2", "r3gan")
ARCHITECTURE_FIELDS = {name: tuple(_model()[name].keys()) for name in ARCHITECTURES}
OPS_FIELDS = tuple(_ops().keys())


def architecture_section(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """``config.model.<architecture>``: the built architecture's own fields."""
    return config.model[config.model.architecture]


def base_config() -> ml_collections.ConfigDict:
    """Every field with its default: DCGAN, Adam(2e-4, 0.5), non-saturating loss."""
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.batch_size = 64
    c.num_steps = 10_000
    c.n_critic = 1
    c.phase_order = "d_first"  # 'd_first': D, D reg, G, G reg | 'g_first': G, G reg, D, D reg (NVlabs)
    c.log_every = 100
    c.sample_every = 1000
    c.checkpoint_every = 1000
    c.keep_checkpoints = 3
    c.eval_every = 0
    c.nonfinite = "stop"
    c.lazy_dispatch = "variants"  # lazy phases: 'variants' (one program per due pattern) | 'cond'
    c.resume_changes = False  # True: resume even though seed, dataset or model differ from config.json
    c.microbatches = 1  # M > 1: each update accumulates gradients over M sequential slices of the batch
    c.microbatches_as = "big_batch"  # M slices as the 'big_batch' (mean, one update) | NVlabs' 'rounds'
    c.init_from = ""  # fine-tuning: a workdir, checkpoint folder or converted model to start from
    c.init_optimizer = False  # init_from: also take both optimizers' states (default: fresh Adam)
    c.freeze_d = 0  # fine-tuning: the first N discriminator blocks (from the image) stay frozen

    c.dataset = ml_collections.ConfigDict(
        dict(
            name="fashion_mnist",  # tfds name, and the key for well-known local copies
            source="auto",  # 'auto' | 'packed' | 'tfds' | 'idx' | 'folder' | 'npz' | 'synthetic'
            path="",  # directory or file for the local sources (a pack's folder: source 'packed')
            split="train",
            resolution=28,
            channels=1,
            resize="pad",  # 'pad' (centre, background -1) or 'resize' (bilinear) to resolution
            data_dir="",  # tfds data_dir ('' = tfds default)
            download=False,  # let tfds download and prepare a dataset it does not have
            cache_dir="",  # where decoded uint8 arrays are cached ('' = no cache)
            prefetch=2,  # batches prepared ahead of the step, on device
            workers=0,  # packed/tfds: processes reading and decoding batches (grain); 0: the prefetch thread
            mirror=False,  # x-flips (NVlabs' --mirror): example N+i is image i flipped left-right; epoch 2N
            max_examples=0,  # use only the first N examples (0 = all)
            classes=(),  # keep only these labels, unchanged (empty = every class)
            bad_images="fail",  # folder: an undecodable or wrong-channel image 'fail's the run or is 'skip'ped
            convert_channels=False,  # folder: convert images with another channel count (grey <-> RGB, drop alpha)
        )
    )
    c.model = _model()
    c.ops = _ops()
    c.optimizer = ml_collections.ConfigDict(dict(g=_optimizer(), d=_optimizer()))
    c.loss = ml_collections.ConfigDict(
        dict(
            d_loss="non_saturating",
            g_loss="non_saturating",
            fake_labels="sampled",  # classes of generated images: 'sampled' uniformly | 'real': the real batch's
            g_real_batch="shared",  # real images G's phase reads: 'shared' (D's last batch) | 'own' (R3GAN)
        )
    )
    c.regularizer = ml_collections.ConfigDict(
        dict(
            r1_gamma=0.0,  # R1 weight γ; the D loss gains (γ/2)·R1 (0: off)
            r1_every=1,  # 1: R1 joins D's main phase; k > 1: lazy, its own phase every k steps
            r2_gamma=0.0,  # R2 weight γ on generated images; the D loss gains (γ/2)·R2 (0: off)
            r2_every=1,  # as r1_every; R1 and R2 share D's lazy phase when both are lazy
            gp_lambda=0.0,  # WGAN-GP weight λ (0: off)
            lecam_lambda=0.0,  # LeCam weight λ (0: off)
            lecam_decay=0.99,  # decay of the EMAs of D(real) and D(fake) LeCam pulls towards
            pl_weight=0.0,  # path length weight (StyleGAN2: 2; 0: off); needs a StyleGAN generator
            pl_every=4,  # path length runs lazily in G's own phase every k steps
            pl_decay=0.01,  # rate of the running mean of path lengths
            pl_batch_shrink=2,  # path length runs on batch_size // shrink images
            final_r1_gamma=config_dict.placeholder(float),  # scheduled R1 weight (None: constant r1_gamma)
            final_r2_gamma=config_dict.placeholder(float),  # scheduled R2 weight (None: constant r2_gamma)
        )
    )
    c.augment = ml_collections.ConfigDict(
        dict(
            kind="",  # '' (none) | 'diffaugment' | 'ada'; applied to every image D sees
            policy="color,translation,cutout",  # DiffAugment's ops
            ada_pipeline="bgc",  # ADA's ops: NVlabs' preset name, see gan_jax.augment.ada.PIPELINES
            ada_p=0.0,  # ADA's initial probability
            ada_target=0.6,  # target of r_t = E[sign(D(real))]; 0 keeps p fixed at ada_p
            ada_interval=4,  # steps between adjustments of p
            ada_kimg=500.0,  # thousands of real images for p to move from 0 to 1
            final_ada_p=config_dict.placeholder(float),  # with ada_target=0: p scheduled from ada_p to this
        )
    )
    c.ema = ml_collections.ConfigDict(
        dict(
            decay=0.999,
            warmup=True,
            half_life_kimg=0.0,  # > 0: StyleGAN2's EMA, half-life in thousands of images (replaces decay)
            rampup=0.0,  # with half_life_kimg: half-life ≤ rampup × images seen (StyleGAN2: 0.05)
            final_half_life_kimg=config_dict.placeholder(float),  # scheduled half-life (R3GAN: 0 → N)
        )
    )
    c.schedule = ml_collections.ConfigDict(
        dict(
            shape="cosine",  # how every scheduled value (final_* fields) moves: 'cosine' | 'linear'
            kimg=0.0,  # over how many thousand images (0: the whole run, num_steps × batch_size)
        )
    )
    c.sample = ml_collections.ConfigDict(dict(num_images=64, standing_stats=512))
    c.eval = ml_collections.ConfigDict(
        dict(
            metrics="",  # comma-separated, see gan_jax.metrics.evaluator.METRICS
            num_samples=10_000,  # generated images per evaluation
            split="test",  # reference split of the dataset
            batch_size=250,  # images per feature-extraction batch (global)
            cache_dir="",  # reference features cache ('' = $GAN_JAX_CACHE or ~/.cache/gan_jax)
            best_metric="",  # result that picks the 'best' checkpoint ('' = the first metric)
            inception_weights="",  # converted FID Inception .npz ('' = $GAN_JAX_INCEPTION)
        )
    )
    c.wandb = ml_collections.ConfigDict(
        dict(
            enabled=False,  # also log to Weights & Biases (needs `pip install wandb`)
            project="gan_jax",
            entity="",  # '' = wandb's default
            name="",  # run name ('' = the workdir's name)
            mode="online",  # 'online' | 'offline' (written under the workdir, `wandb sync` later)
            tags=(),
        )
    )
    c.distributed = ml_collections.ConfigDict(
        dict(
            enabled=config_dict.placeholder(bool),
            coordinator_address=config_dict.placeholder(str),
            num_processes=config_dict.placeholder(int),
            process_id=config_dict.placeholder(int),
        )
    )
    return c


def real_batches_per_step(config: ml_collections.ConfigDict) -> int:
    """Real batches one train step reads: one per D update, and one more for G's phase
    when it has its own (``loss.g_real_batch='own'``)."""
    return config.n_critic + (config.loss.g_real_batch == "own")


def to_json(config: ml_collections.ConfigDict) -> str:
    return json.dumps(config.to_dict(), indent=2, sort_keys=True, default=str)


def upgrade(values: dict) -> dict:
    """A saved config's values in today's schema. Before the per-architecture sections,
    ``model`` held every architecture's fields and the ops' knobs side by side: the built
    architecture's go to ``model.<architecture>``, the knobs to ``ops``, the other
    architectures' (at their defaults, never read) are dropped."""
    model = dict(values.get("model", {}))
    arch = model.get("architecture", "dcgan")
    moved = {k for k in model if k not in ("architecture", "z_dim", "num_classes", "dtype", *ARCHITECTURES)}
    if not moved:
        return values
    section = dict(model.get(arch, {}))
    ops = dict(values.get("ops", {}))
    for key in moved:
        value = model.pop(key)
        if key in OPS_FIELDS:
            ops.setdefault(key, value)
        elif key in ARCHITECTURE_FIELDS.get(arch, ()):
            section.setdefault(key, value)
    if arch in ARCHITECTURE_FIELDS:
        model[arch] = section
    return {**values, "model": model, "ops": ops}


def from_dict(values: dict) -> ml_collections.ConfigDict:
    """`base_config()` with the fields of a saved config (``config.json``, a checkpoint's) set,
    an old one `upgrade`d first."""
    config = base_config()
    try:
        config.update_from_flattened_dict(_flatten(upgrade(values)))
    except (KeyError, TypeError) as e:
        raise ConfigError(f"the saved config does not fit this version of gan_jax: {e}") from None
    return config


# Fields whose change makes a resumed run another experiment under the old name.
_IDENTITY = (
    "seed",
    "dataset.name",
    "dataset.source",
    "dataset.path",
    "dataset.split",
    "dataset.resolution",
    "dataset.channels",
    "dataset.resize",
    "dataset.max_examples",
    "dataset.classes",
    "dataset.mirror",
)
# Fields that may differ between the starts of one run without a word.
_UNLOGGED = ("resume_changes",)


def _is_identity(name: str, architecture: str) -> bool:
    """Whether a field's change makes another experiment: the data, the seed, the model's
    common fields and its architecture's own (not another architecture's, nor ``ops``)."""
    common = tuple(f"model.{k}" for k in ("architecture", "z_dim", "num_classes", "dtype"))
    return name in _IDENTITY or name in common or name.startswith(f"model.{architecture}.")


def resume_differences(saved: dict, config: ml_collections.ConfigDict) -> tuple[list[str], list[str]]:
    """(identity changes, other changes) between a workdir's saved config.json and the config
    of a resuming start, each as 'field: old -> new'."""
    old, new = _flatten(upgrade(saved)), _flatten(config.to_dict())
    defaults = _flatten(base_config().to_dict())
    identity, other = [], []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if isinstance(a, list):
            a = tuple(a)
        if isinstance(b, list):
            b = tuple(b)
        if name not in old and name in defaults and b == defaults[name]:
            continue  # a field newer than the run, at its default: the run had that behaviour
        if a == b or name in _UNLOGGED:
            continue
        line = f"{name}: {a!r} -> {b!r}"
        (identity if _is_identity(name, config.model.architecture) else other).append(line)
    return identity, other


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def field_names(config: ml_collections.ConfigDict, prefix: str = "") -> list[str]:
    """Dotted names of every leaf field, for error messages that list the valid ones."""
    names = []
    for key, value in config.items():
        if isinstance(value, ml_collections.ConfigDict):
            names += field_names(value, f"{prefix}{key}.")
        else:
            names.append(prefix + key)
    return names
