"""Numerical gradient checks in float64: central differences along a random direction.

`check_gradients(fn, arrays)` builds Tensors from `arrays` (all requiring grad), computes
`L = sum(fn(*tensors).data * R)` for a fixed random R, backpropagates, and compares each analytic
gradient with (L(x + h d) - L(x - h d)) / 2h along a random direction d, and also entry by entry on
a few sampled coordinates. Raises AssertionError with the worst relative error.
"""

import numpy as np

from striate.tensor import Tensor


def _loss(fn, arrays, weights):
    out = fn(*[Tensor(a) for a in arrays])
    return float(np.sum(out.data * weights))


def check_gradients(fn, arrays, seed=0, h=1e-6, rtol=1e-5, atol=1e-8, coords=6):
    rng = np.random.default_rng(seed)
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(*tensors)
    weights = rng.standard_normal(out.data.shape)
    out.backward(weights.astype(out.data.dtype))
    for index, (array, tensor) in enumerate(zip(arrays, tensors)):
        analytic = tensor.grad if tensor.grad is not None else np.zeros_like(array)
        assert analytic.shape == array.shape, f"input {index}: grad shape {analytic.shape}"
        direction = rng.standard_normal(array.shape)
        plus = [a if i != index else a + h * direction for i, a in enumerate(arrays)]
        minus = [a if i != index else a - h * direction for i, a in enumerate(arrays)]
        numeric = (_loss(fn, plus, weights) - _loss(fn, minus, weights)) / (2 * h)
        projected = float(np.sum(analytic * direction))
        error = abs(numeric - projected)
        assert error <= atol + rtol * max(abs(numeric), abs(projected)), (
            f"input {index}: directional derivative analytic {projected!r} vs numeric {numeric!r}"
        )
        flat = array.reshape(-1)
        for position in rng.choice(flat.size, size=min(coords, flat.size), replace=False):
            bump = np.zeros_like(flat)
            bump[position] = h
            plus = [
                a if i != index else (flat + bump).reshape(a.shape) for i, a in enumerate(arrays)
            ]
            minus = [
                a if i != index else (flat - bump).reshape(a.shape) for i, a in enumerate(arrays)
            ]
            numeric = (_loss(fn, plus, weights) - _loss(fn, minus, weights)) / (2 * h)
            value = analytic.reshape(-1)[position]
            assert abs(numeric - value) <= atol + rtol * max(abs(numeric), abs(value)) + 1e-7, (
                f"input {index}, entry {position}: analytic {value!r} vs numeric {numeric!r}"
            )
