"""The numeric promises of docs/NUMERICS.md, tested so that they hold on any BLAS kernel.

- Two paths that do the same math with GEMMs of other heights or row orders (the fused plan and
  the layers one by one, predict in chunks and in one call) agree within the documented rounding
  tolerance (tests/rounding.py), and training along either path stays within a stated bound.
- That tolerance is wide enough for what any kernel may do (cut, permuted and whole GEMMs are
  compared here on purpose, not on the kernel's luck) and narrow enough to catch a real bug.
"""

import numpy as np
import pytest
from rounding import assert_equal_within_rounding, rounding_tolerance

from striate import zoo
from striate.tensor import Tensor
from striate.utils import set_random_seed


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m, k, n", [(4 * 27 * 27, 5, 6), (128 * 36, 289, 64), (129, 1014, 10)])
def test_cut_and_permuted_gemms_agree_within_the_documented_tolerance(dtype, m, k, n):
    """What a kernel may do to striate's GEMMs: cut their rows into pieces of other heights, or
    take them in another order (block pixel order). Every such result is within tolerance."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    whole = a @ b
    order = rng.permutation(m)
    permuted = np.empty_like(whole)
    permuted[order] = a[order] @ b
    cuts = [0, 1, 7, m // 3, m // 2 + 5, m]  # one row (gemv), small and odd heights
    pieces = np.concatenate([a[i:j] @ b for i, j in zip(cuts[:-1], cuts[1:])])
    exact = (a.astype(np.float64) @ b.astype(np.float64)).astype(dtype)
    for other in (permuted, pieces, exact):
        assert_equal_within_rounding(other, whole)
    # and the kernel-gradient side: a sum over all m rows, in pieces added in order
    full_sum = a.T @ whole
    piece_sum = sum(a[i:j].T @ whole[i:j] for i, j in zip(cuts[:-1], cuts[1:]))
    assert_equal_within_rounding(piece_sum.astype(dtype), full_sum)


def test_the_tolerance_catches_real_mistakes():
    """A dropped term, a missing bias or a wrong pool winner is far outside the tolerance."""
    rng = np.random.default_rng(1)
    a = rng.standard_normal((200, 288)).astype(np.float32)
    b = rng.standard_normal((288, 32)).astype(np.float32)
    whole = a @ b
    rtol, atol = rounding_tolerance(whole)
    dropped = a[:, :-1] @ b[:-1]  # one of 288 products lost
    biased = whole + np.float32(1e-3)  # a bias of 1e-3 added twice, say
    for wrong in (dropped, biased):
        with pytest.raises(AssertionError):
            assert_equal_within_rounding(wrong, whole)
    assert atol < 1e-4 * np.abs(whole).max()


def train_steps(one_by_one, steps=5, seed=11):
    """The convnet's weights after `steps` Adam steps on the same batches, run by the plan
    (fused conv + pool, block pixel order) or by the layers one by one (row pixel order)."""
    set_random_seed(seed)
    model = zoo.convnet((12, 12, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (steps, 16, 12, 12, 1)).astype(np.float32)
    y = rng.integers(0, 10, (steps, 16))
    for step in range(steps):
        out = Tensor(x[step])
        if one_by_one:
            for layer in model.layers:
                out = layer.call(out, training=False)
        else:
            out = model.call(out, training=False)
        model.loss(y[step], out).backward()
        model.optimizer.apply_gradients([(w.grad, w) for w in model.trainable_weights])
        for weight in model.trainable_weights:
            weight.grad = None
    return model.get_weights()


# The stated bound on training trajectories (docs/NUMERICS.md): along the two paths each step's
# gradients differ by rounding only, so each step's update does too, and the weights drift apart
# by at most ULPS units in the last place of the weights' scale per step. (Measured here: at most
# 1.3e-07 after 5 steps on weights of scale ~0.3, about a twentieth of the bound.)
def trajectory_bound(weights, steps=5):
    return steps * rounding_tolerance(weights)[1]


def test_training_along_both_paths_stays_within_the_stated_bound():
    fused, plain = train_steps(one_by_one=False), train_steps(one_by_one=True)
    for got, want in zip(fused, plain):
        assert np.abs(got - want).max() <= trajectory_bound(want)
