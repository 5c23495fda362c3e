"""How the math of `striate.ops` is made fast: functions that take and return arrays.

The ops (`striate.ops.conv`, `conv_pool`, `pool`) say what is computed, forward and backward
side by side; the engine says how, with NumPy and the BLAS:

- `conv_gemm`: a convolution as GEMMs. The patch matrix (im2col) in the layout that suits the
  channel count, the forward GEMM with the bias folded in, the kernel-gradient GEMM, col2im.
- `blocks`: the 2x2-block pixel order, in which a convolution's GEMM writes its output so that
  2x2 max pooling reads four contiguous arrays.
- `pooling`: pooling windows read as parts (strided views, or an `np.take` into one buffer for
  few channels), the 2x2 tournament and its gradient routing, and the gradients sent back to
  the input.
- `sums`: sums over many rows as BLAS products.

Engine functions work on ndarrays and plain geometry records. They never import an op or a
Tensor, and never call back into one. An op that runs in pieces of the batch (on every core,
`striate.parallel`) writes its per-piece work as engine calls and hands it to
`parallel.run_pieces`. Every GEMM is an `np.matmul` call (never `@`), so that a test can see
them all. Two invariants hold throughout (docs/NUMERICS.md): how work is cut depends on the
sizes only, never on the threads, so `fit`, `evaluate` and `predict` give the same numbers bit
for bit on any thread count (`tests/test_parallel.py` records every GEMM's shapes and the BLAS's
threads); and every fused or reordered path gives the plain path's numbers within float
rounding (`tests/test_plan.py`, `tests/test_ops_conv_pool.py`).
"""
