"""The scalar arithmetic that joins penalties to a loss (Keras 3's `compute_loss`): the sum of
the loss and the penalties, and an activity penalty divided by the batch size.

>>> import numpy as np
>>> from striate.tensor import Tensor
>>> float(add_scalars([Tensor(np.float32(1.5)), Tensor(np.float32(0.25))]).data)
1.75
"""

import numpy as np

from striate.tensor import Tensor


def add_scalars(terms):
    """`terms[0] + terms[1] + ...` of 0-d Tensors, in the first one's dtype (the loss's)."""
    dtype = terms[0].data.dtype
    total = np.asarray(terms[0].data, dtype).copy()
    for term in terms[1:]:
        total = total + np.asarray(term.data, dtype)
    total = np.asarray(total, dtype)

    def backward(g):
        return tuple(np.asarray(g, t.data.dtype) for t in terms)  # d(sum)/d(each term) = 1

    return Tensor.from_op(total, tuple(terms), backward, "add_scalars")


def divide(x, divisor):
    """`x / divisor` of a 0-d Tensor by a positive number (Keras's batch-size normalization)."""
    kind = x.data.dtype.type
    out = np.asarray(x.data / kind(divisor))

    def backward(g):
        return (np.asarray(g / kind(divisor), x.data.dtype),)  # d(x / n)/dx = 1 / n

    return Tensor.from_op(out, (x,), backward, "divide")
