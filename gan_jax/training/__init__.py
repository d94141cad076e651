"""The GAN training step: its state, keys, losses, regularizers, terms, phases, schedules, the
builder of a run and the sampler."""
