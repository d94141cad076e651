"""A training run around the step: the trainer loop, checkpoints, the workdir lock, preemption,
writers, fine-tuning, and loading a trained run or an exported generator."""
