"""Pure math on ndarrays, each op with its forward and its hand-written backward side by side.

An op takes Tensors, computes its output with NumPy, and returns
`Tensor.from_op(out, parents, backward, name)`, where `backward(g)` maps the gradient of the
output to a tuple of gradients, one per parent (None where a parent needs none).
"""
