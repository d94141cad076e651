"""Weight penalties by hand, and the difference between an L2 penalty and AdamW."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from gan_jax import regularizers
from gan_jax.config import base_config
from gan_jax.state import make_optimizer

PARAMS = {"conv": {"kernel": jnp.array([[1.0, -2.0], [3.0, 0.5]]), "bias": jnp.array([10.0, -10.0])},
          "bn": {"scale": jnp.array([5.0]), "bias": jnp.array([1.0])},
          "embed": {"embedding": jnp.array([-1.0, 1.0])}}


def test_mask_selects_kernels_and_embeddings_only():
    mask = regularizers.decay_mask(PARAMS)
    assert mask == {"conv": {"kernel": True, "bias": False}, "bn": {"scale": False, "bias": False},
                    "embed": {"embedding": True}}


def test_l1_and_l2_values():
    # kernels+embeddings: |1|+|-2|+|3|+|0.5| + 1 + 1 = 8.5 ; squares: 1+4+9+0.25+1+1 = 16.25
    assert float(regularizers.l1_penalty(PARAMS)) == pytest.approx(8.5)
    assert float(regularizers.l2_penalty(PARAMS)) == pytest.approx(0.5 * 16.25)
    assert float(regularizers.weight_penalty(PARAMS, 0.1, 0.01)) == pytest.approx(0.85 + 0.01 * 8.125)
    assert float(regularizers.weight_penalty(PARAMS, 0.0, 0.0)) == 0.0


def test_l2_gradient_is_lambda_w():
    grads = jax.grad(lambda p: regularizers.weight_penalty(p, 0.0, 0.3))(PARAMS)
    np.testing.assert_allclose(grads["conv"]["kernel"], 0.3 * PARAMS["conv"]["kernel"])
    np.testing.assert_allclose(grads["conv"]["bias"], 0.0)


def _opt(**kw) -> ml_collections.ConfigDict:
    opt = base_config().optimizer.g
    opt.update(kw)
    return opt


def test_decoupled_weight_decay_is_applied_outside_adam():
    """With zero loss gradient, AdamW moves w by exactly -lr*wd*w; biases stay put."""
    tx = make_optimizer(_opt(learning_rate=0.1, weight_decay=0.5))
    zero = jax.tree.map(jnp.zeros_like, PARAMS)
    updates, _ = tx.update(zero, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(updates["conv"]["kernel"], -0.1 * 0.5 * PARAMS["conv"]["kernel"], rtol=1e-6)
    np.testing.assert_allclose(updates["conv"]["bias"], 0.0)


def test_l2_penalty_through_adam_is_normalised_not_decay():
    """The explicit penalty's gradient λw goes through Adam: the first step is -lr*sign(w)."""
    tx = make_optimizer(_opt(learning_rate=0.1))
    grads = jax.grad(lambda p: regularizers.weight_penalty(p, 0.0, 0.5))(PARAMS)
    updates, _ = tx.update(grads, tx.init(PARAMS), PARAMS)
    np.testing.assert_allclose(updates["conv"]["kernel"], -0.1 * np.sign(PARAMS["conv"]["kernel"]), rtol=1e-4)
