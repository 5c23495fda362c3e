"""Micro-benchmark of the conv and pooling ops: forward + backward, microseconds per call.

    python benchmarks/ops_micro.py [--repeat 7] [--no-torch] [--tune-malloc] [--threads N]

Cases are the layers of the two benchmark models (see /work/shared/docs/BENCHMARKS.md): the
article's Conv2D(6, 2) and MaxPool2D(2) at batch 32, and the convnet's two Conv2D and MaxPool2D
layers at batch 128, and each model's conv + 2x2 pool as the one fused op that `Sequential` runs
for them (`striate.ops.conv_pool`). The first conv of each model computes no input gradient, as
in training.
The striate ops run inside a parallel region with `--threads` threads (default: every core, as
`fit` runs them; `--threads 1` times them alone, the BLAS using its own threads).
When torch is importable, the same op in PyTorch (NCHW, 2 threads) is timed alternately with
ours in the same run, and the ratio striate / torch is printed (median of the per-round ratios):
absolute times on a shared machine mean little, ratios from one run mean more.

--tune-malloc asks glibc to keep freed memory for reuse (mallopt M_TRIM_THRESHOLD and
M_MMAP_THRESHOLD) before timing. By default glibc hands big freed blocks back to the kernel, and
every step then pays page faults to get them back: on these machines that more than doubles the
time of the article's conv. It is a process-wide setting, so it belongs to the program, not to
the ops: `fit`, `evaluate` and `predict` apply it (`striate.backend.keep_freed_memory`).
"""

import argparse
import ctypes
import statistics
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from striate import parallel
from striate.ops.conv import conv2d
from striate.ops.conv_pool import conv2d_max_pool2d
from striate.ops.pool import max_pool2d
from striate.tensor import Tensor

CASES = [
    # name, kind, input shape, kernel (kh, kw, filters) or pool, input needs a gradient
    ("article conv 2x2x1->6", "conv", (32, 28, 28, 1), (2, 2, 6), False),
    ("article maxpool 2", "pool", (32, 27, 27, 6), 2, True),
    ("convnet conv1 3x3x1->32", "conv", (128, 28, 28, 1), (3, 3, 32), False),
    ("convnet maxpool1 2", "pool", (128, 26, 26, 32), 2, True),
    ("convnet conv2 3x3x32->64", "conv", (128, 13, 13, 32), (3, 3, 64), True),
    ("convnet maxpool2 2", "pool", (128, 11, 11, 64), 2, True),
    # What Sequential runs for Conv2D (+ ReLU) + MaxPool2D(2): the fused op of striate.ops.conv_pool
    ("article conv+pool fused", "convpool", (32, 28, 28, 1), (2, 2, 6), False),
    ("convnet conv1+pool1 fused", "convpool", (128, 28, 28, 1), (3, 3, 32), False),
    ("convnet conv2+pool2 fused", "convpool", (128, 13, 13, 32), (3, 3, 64), True),
]


def striate_step(kind, shape, spec, input_grad, rng):
    """A closure running forward + backward once, as training does (the incoming gradient is
    made once, outside the timing)."""
    x = rng.standard_normal(shape).astype(np.float32)
    if kind in ("conv", "convpool"):
        kh, kw, filters = spec
        kernel = rng.standard_normal((kh, kw, shape[3], filters)).astype(np.float32)
        bias = np.zeros(filters, np.float32)
        op = conv2d if kind == "conv" else conv2d_max_pool2d

        def forward():
            params = [Tensor(kernel, requires_grad=True), Tensor(bias, requires_grad=True)]
            return op(Tensor(x, requires_grad=input_grad), *params)
    else:
        x = np.maximum(x, 0)  # pools follow a ReLU in both models: many tied zeros

        def forward():
            return max_pool2d(Tensor(x, requires_grad=True), spec)

    grad = rng.standard_normal(forward().shape).astype(np.float32)

    def step():
        forward().backward(grad)

    return step


def torch_step(kind, shape, spec, input_grad, rng):
    import torch

    F = torch.nn.functional
    n, h, w, c = shape
    x = torch.tensor(rng.standard_normal((n, c, h, w)).astype(np.float32))
    if kind in ("conv", "convpool"):
        kh, kw, filters = spec
        kernel = torch.randn(filters, c, kh, kw, requires_grad=True)
        bias = torch.zeros(filters, requires_grad=True)
        x.requires_grad_(input_grad)

        def forward():
            kernel.grad = bias.grad = x.grad = None
            out = F.conv2d(x, kernel, bias)
            return out if kind == "conv" else F.max_pool2d(out, 2)
    else:
        x = x.clamp(min=0).requires_grad_(True)

        def forward():
            x.grad = None
            return F.max_pool2d(x, spec)

    grad = torch.randn(forward().shape)

    def step():
        forward().backward(grad)

    return step


def tune_malloc():
    """Keep freed heap memory (up to 1 GiB) and serve blocks up to 32 MiB from it (glibc only)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(
        libc.mallopt(m_trim_threshold, 1 << 30) and libc.mallopt(m_mmap_threshold, 32 << 20)
    )


def per_call_us(step, budget=0.1):
    """Mean time of one call of step in microseconds, over a timeit run of about `budget` s."""
    timer = timeit.Timer(step)
    calls = max(3, int(budget / max(timer.timeit(1), 1e-6)))
    return timer.timeit(calls) / calls * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds per case (A B A B ...)")
    parser.add_argument("--no-torch", action="store_true", help="time striate only")
    parser.add_argument("--tune-malloc", action="store_true", help="keep freed memory for reuse")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="striate's threads (default: every core this process may use)",
    )
    args = parser.parse_args()
    if args.threads is not None:
        parallel.set_num_threads(args.threads)
    with parallel.parallel_region():
        run_cases(args)


def run_cases(args):
    if args.tune_malloc:
        print("glibc malloc tuned:", tune_malloc())
    try:
        if args.no_torch:
            raise ImportError
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
    rng = np.random.default_rng(0)
    header = f"{'case':28} {'striate us':>11}"
    print(header + (f" {'torch us':>10} {'ratio':>7}" if torch else ""))
    for name, kind, shape, spec, input_grad in CASES:
        ours = striate_step(kind, shape, spec, input_grad, rng)
        theirs = torch_step(kind, shape, spec, input_grad, rng) if torch else None
        ours_us, theirs_us = [], []
        for _ in range(args.repeat):
            ours_us.append(per_call_us(ours))
            if theirs:
                theirs_us.append(per_call_us(theirs))
        line = f"{name:28} {min(ours_us):11.1f}"
        if theirs:
            ratio = statistics.median(a / b for a, b in zip(ours_us, theirs_us))
            line += f" {min(theirs_us):10.1f} {ratio:7.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
