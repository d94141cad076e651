"""Trains the domain classifier of `gan_jax.metrics.classifier` and writes its weights.

    python -m gan_jax.tools.train_classifier [--out gan_jax/metrics/weights/fmnist_classifier.npz]

Reads Fashion-MNIST the way training does (Debian's IDX files, else tfds), trains
on the train split and reports test-split accuracy. Deterministic for a given seed
and device count. About 10 minutes on a 2-core CPU.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import flags, logging

from gan_jax.tools import cli
from gan_jax.data import sources as datasets
from gan_jax.config import base_config
from gan_jax.metrics import classifier


def define_flags() -> None:
    """Command-line flags, defined only when run as a program (importing stays side-effect free)."""
    flags.DEFINE_string("out", classifier.WEIGHTS, "Where to write the .npz weights.")
    flags.DEFINE_integer("epochs", 10, "Passes over the train split.")
    flags.DEFINE_integer("batch_size", 128, "Batch size.")
    flags.DEFINE_integer("seed", 0, "Seed of initialisation, order and augmentation.")


FLAGS = flags.FLAGS


def load_split(split: str) -> tuple[np.ndarray, np.ndarray]:
    ds = base_config().dataset
    ds.name, ds.split = "fashion_mnist", split
    data = datasets.load_dataset(ds)
    return data.read(np.arange(len(data))).astype(np.float32) / 255.0, data.labels


def augment(key: jax.Array, x: jax.Array) -> jax.Array:
    """Random horizontal flips: garments are left-right symmetric as a class."""
    flip = jax.random.bernoulli(key, 0.5, (x.shape[0], 1, 1, 1))
    return jnp.where(flip, x[:, :, ::-1], x)


def train(epochs: int, batch_size: int, seed: int):
    x_train, y_train = load_split("train")
    x_test, y_test = load_split("test")
    model = classifier.Classifier()
    key = jax.random.key(seed)
    params = model.init(key, x_train[:1])["params"]
    steps = epochs * (len(x_train) // batch_size)
    tx = optax.adam(optax.cosine_decay_schedule(1e-3, steps))
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, x, y, key):
        def loss_fn(p):
            _, logits = model.apply({"params": p}, augment(key, x))
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def predict(params, x):
        return jnp.argmax(model.apply({"params": params}, x)[1], -1)

    rng = np.random.default_rng(seed)
    start = time.time()
    for epoch in range(epochs):
        order = rng.permutation(len(x_train))
        for i in range(len(x_train) // batch_size):
            idx = order[i * batch_size : (i + 1) * batch_size]
            key, sub = jax.random.split(key)
            params, opt_state, loss = step(params, opt_state, x_train[idx], y_train[idx], sub)
        accuracy = evaluate(predict, params, x_test, y_test)
        logging.info(
            "epoch %d: loss %.4f, test accuracy %.4f (%.0f s)", epoch + 1, loss, accuracy, time.time() - start
        )
    return params, accuracy


def evaluate(predict, params, x, y, batch_size: int = 1000) -> float:
    correct = sum(
        int(np.sum(np.asarray(predict(params, x[i : i + batch_size])) == y[i : i + batch_size]))
        for i in range(0, len(x), batch_size)
    )
    return correct / len(x)


def main(argv):
    del argv
    params, accuracy = train(FLAGS.epochs, FLAGS.batch_size, FLAGS.seed)
    classifier.save_params(params, FLAGS.out)
    print(f"test accuracy {accuracy:.4f}; weights written to {FLAGS.out}")


if __name__ == "__main__":
    define_flags()
    cli.run(main)
