"""Keras's initializers: seeds (an int seed gives the same values at every call, Keras 3's
rule), Constant, TruncatedNormal, Orthogonal, Identity, LecunUniform, a user's function, the
lowercase aliases; statistics against the formulas."""

import numpy as np
import pytest

import striate
from striate import initializers, layers


def test_a_seeded_initializer_draws_the_same_values_and_an_unseeded_one_follows_the_seed():
    for cls in (
        initializers.HeNormal,
        initializers.GlorotUniform,
        initializers.LecunUniform,
        initializers.TruncatedNormal,
        initializers.RandomUniform,
        initializers.RandomNormal,
        initializers.Orthogonal,
    ):
        seeded = cls(seed=7)
        np.testing.assert_array_equal(seeded((5, 4)), seeded((5, 4)))
        assert initializers.get(initializers.serialize(seeded)).get_config() == seeded.get_config()
    striate.utils.set_random_seed(3)
    first = initializers.HeNormal()((5, 4))
    striate.utils.set_random_seed(3)
    np.testing.assert_array_equal(initializers.HeNormal()((5, 4)), first)
    assert first.dtype == np.float32


def test_values_follow_their_formulas():
    ortho = initializers.Orthogonal(gain=2.0, seed=0)((3, 3, 4, 8))
    flat = ortho.reshape(-1, 8)
    np.testing.assert_allclose(flat.T @ flat, 4.0 * np.eye(8), atol=1e-5)
    wide = initializers.Orthogonal(seed=0)((3, 6))
    np.testing.assert_allclose(wide @ wide.T, np.eye(3), atol=1e-6)
    np.testing.assert_array_equal(initializers.Constant(0.5)((2, 2)), np.full((2, 2), 0.5))
    np.testing.assert_array_equal(initializers.Identity(3.0)((2, 3)), 3.0 * np.eye(2, 3))
    draws = initializers.TruncatedNormal(mean=1.0, stddev=0.1, seed=0)((100_000,))
    assert draws.min() >= 0.8 and draws.max() <= 1.2 and abs(draws.mean() - 1.0) < 1e-3
    limit = np.sqrt(3.0 / 50)  # LecunUniform: U(-sqrt(3 / fan_in), +)
    lecun = initializers.LecunUniform(seed=0)((50, 400))
    assert lecun.max() <= limit and lecun.min() >= -limit and lecun.max() > 0.95 * limit


def test_names_aliases_and_a_users_function_work_in_layers():
    assert initializers.he_normal is initializers.HeNormal
    assert isinstance(initializers.get("orthogonal"), initializers.Orthogonal)
    dense = layers.Dense(3, kernel_initializer=lambda shape, dtype=None: np.ones(shape))
    dense.build_for((None, 2))
    np.testing.assert_array_equal(dense.kernel.data, np.ones((2, 3), np.float32))
    conv = layers.Conv2D(2, 3, kernel_initializer=initializers.HeNormal(seed=1))
    conv.build_for((None, 5, 5, 1))
    again = layers.Conv2D(2, 3, kernel_initializer=initializers.HeNormal(seed=1))
    again.build_for((None, 5, 5, 1))
    np.testing.assert_array_equal(conv.kernel.data, again.kernel.data)
    with pytest.raises(ValueError, match="Orthogonal: needs a shape of rank 2"):
        initializers.Orthogonal()((3,))
