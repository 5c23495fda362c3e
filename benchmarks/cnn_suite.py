"""CNNs beyond the two tuned workloads (issue 17): striate, PyTorch eager and Keras 3 side by side,
with striate's achieved GFLOP/s against this machine's measured float32 GEMM peak.

    python benchmarks/cnn_suite.py                       # every workload, 3 alternating pairs
    python benchmarks/cnn_suite.py --workloads vgg64 --pairs 1 --steps 5

Workloads (random data of the stated shape, batch 32 unless said; one measurement per fresh
subprocess; the time is the median step of `--steps` steps after 2 warm-up steps):

  vgg32/64/128  three 3x3 'same' conv blocks (32, 64, 128 filters) + ReLU + 2x2 max pool,
                global average pooling, Dense(10); RGB images of 32, 64 or 128 px; Adam
  resnet        the functional ResNet (Conv/BN/ReLU, `add` skips, a stride-2 conv) on
                CIFAR-10-shaped 32x32x3 images (`workloads.functional_resnet`, widened input)
  mobile        a MobileNet-style stack on 64x64x3: a stride-2 conv, then DepthwiseConv2D +
                1x1 conv blocks (BN, ReLU) and a SeparableConv2D, global pooling, Dense(10)
  latency       vgg64 `predict` of ONE image (median of 50 calls), in milliseconds
  throughput    vgg64 `predict` of 256 images in one call, in images per second

FLOPs are counted once per workload from the model's layers (2 per multiply-add; a training
step is 3 forward passes' worth: forward, input gradients, weight gradients).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
WORKLOADS = ("vgg32", "vgg64", "vgg128", "resnet", "mobile", "latency", "throughput")
BATCH = 32


def shape_of(workload):
    size = {"vgg32": 32, "vgg128": 128, "resnet": 32}.get(workload, 64)
    return (size, size, 3)


def keras_model(lib, workload):
    """The workload's model through the Keras API (the same code for striate and Keras)."""
    layers = lib.layers
    if workload == "resnet":
        from workloads import functional_resnet

        return functional_resnet(lib, shape_of(workload))
    inputs = lib.Input(shape_of(workload))
    if workload == "mobile":
        x = layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False)(inputs)
        x = layers.ReLU()(layers.BatchNormalization()(x))
        for filters, stride in ((32, 1), (64, 2), (64, 1), (128, 2)):
            x = layers.DepthwiseConv2D(3, strides=stride, padding="same", use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
            x = layers.Conv2D(filters, 1, use_bias=False)(x)
            x = layers.ReLU()(layers.BatchNormalization()(x))
        x = layers.SeparableConv2D(128, 3, padding="same", activation="relu")(x)
        x = layers.GlobalAveragePooling2D()(x)
        return lib.Model(inputs, layers.Dense(10, activation="softmax")(x))
    x = inputs
    for filters in (32, 64, 128):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.GlobalAveragePooling2D()(x)
    return lib.Model(inputs, layers.Dense(10, activation="softmax")(x))


def forward_flops(model):
    """2 x multiply-adds of one sample's forward pass, from striate's layers."""
    from striate.layers import Conv2D, Dense, DepthwiseConv2D, SeparableConv2D

    macs = 0
    for layer in model.layers:
        if isinstance(layer, SeparableConv2D):
            _, oh, ow, f = layer.output_shape
            c = layer.input_shape[-1]
            macs += oh * ow * c * (layer.kernel_size[0] * layer.kernel_size[1] + f)
        elif isinstance(layer, DepthwiseConv2D):
            _, oh, ow, c = layer.output_shape
            macs += oh * ow * c * layer.kernel_size[0] * layer.kernel_size[1]
        elif isinstance(layer, Conv2D):
            _, oh, ow, f = layer.output_shape
            kh, kw = layer.kernel_size
            macs += oh * ow * f * kh * kw * layer.input_shape[-1] // layer.groups
        elif isinstance(layer, Dense):
            macs += layer.input_shape[-1] * layer.units
    return 2 * macs


def sgemm_peak(threads):
    """float32 GEMM GFLOP/s of NumPy's BLAS on 2048x2048 (best of 5)."""
    a = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
    best = 0.0
    for _ in range(5):
        start = time.perf_counter()
        a @ a
        best = max(best, 2 * 2048**3 / (time.perf_counter() - start) / 1e9)
    return best


# --- one measurement (in its own process) ------------------------------------------------------
def measure_keras_api(lib, workload, steps):
    model = keras_model(lib, workload)
    rng = np.random.default_rng(0)
    if workload in ("latency", "throughput"):
        count = 1 if workload == "latency" else 256
        x = rng.random((count,) + shape_of(workload), dtype=np.float32)
        model.predict(x, verbose=0)  # warm up
        times = []
        for _ in range(50 if workload == "latency" else 5):
            start = time.perf_counter()
            model.predict(x, batch_size=count, verbose=0)
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    x = rng.random((BATCH,) + shape_of(workload), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    times = []
    for step in range(steps + 2):
        start = time.perf_counter()
        model.train_on_batch(x, y)
        if step >= 2:
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def one(framework, workload, steps, threads):
    if framework == "striate":
        import striate

        striate.utils.set_random_seed(0)
        seconds = measure_keras_api(striate, workload, steps)
    elif framework == "keras":
        import keras

        keras.utils.set_random_seed(0)
        seconds = measure_keras_api(keras, workload, steps)
    else:
        from torch_models import measure_torch

        seconds = measure_torch(workload, steps, threads, BATCH, shape_of(workload))
    import resource

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_rss_mb": rss}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--peers", default="torch,keras")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--one", nargs=2, metavar=("FRAMEWORK", "WORKLOAD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        if args.one[0] in ("torch", "keras"):
            import torch

            torch.set_num_threads(args.threads)
        print(json.dumps(one(*args.one, args.steps, args.threads)))
        return
    env = dict(
        os.environ,
        KERAS_BACKEND="torch",
        OMP_NUM_THREADS=str(args.threads),
        OPENBLAS_NUM_THREADS=str(args.threads),
        STRIATE_NUM_THREADS=str(args.threads),
    )
    peak = sgemm_peak(args.threads)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} threads; "
        f"float32 GEMM peak (NumPy, 2048^3): {peak:.0f} GFLOP/s; {args.pairs} pair(s)",
        flush=True,
    )
    import striate

    peers = [p for p in args.peers.split(",") if p]
    rows = []
    for workload in args.workloads.split(","):
        model = keras_model(striate, "vgg64" if workload in ("latency", "throughput") else workload)
        flops = forward_flops(model)
        times = {name: [] for name in ["striate"] + peers}
        memory = {name: [] for name in times}
        for _ in range(args.pairs):
            for name in times:
                command = [sys.executable, __file__, "--one", name, workload]
                command += ["--steps", str(args.steps), "--threads", str(args.threads)]
                done = subprocess.run(command, capture_output=True, text=True, env=env)
                if done.returncode:
                    sys.exit(f"{name} {workload} failed:\n{done.stderr[-3000:]}")
                result = json.loads(done.stdout.splitlines()[-1])
                times[name].append(result["seconds"])
                memory[name].append(result["peak_rss_mb"])
                print(f"  {workload:10s} {name:8s} {result['seconds'] * 1e3:9.2f} ms", flush=True)
        rows.append((workload, flops, {k: statistics.median(v) for k, v in times.items()}, memory))
    print()
    header = ["workload", "striate ms"] + [f"{p} ms" for p in peers]
    header += [f"striate/{p}" for p in peers] + ["striate GFLOP/s", "% of peak", "striate MB"]
    header += [f"{p} MB" for p in peers]
    print("| " + " | ".join(header) + " |\n|" + "---|" * len(header))
    for workload, flops, seconds, memory in rows:
        count = {"latency": 1, "throughput": 256}.get(workload, BATCH)
        factor = 1 if workload in ("latency", "throughput") else 3  # training: 3 passes
        achieved = flops * factor * count / seconds["striate"] / 1e9
        cells = [workload] + [f"{seconds[n] * 1e3:.1f}" for n in ["striate"] + peers]
        cells += [f"{seconds['striate'] / seconds[p]:.2f}" for p in peers]
        cells += [f"{achieved:.1f}", f"{100 * achieved / peak:.0f}%"]
        cells += [f"{max(memory[n]):.0f}" for n in ["striate"] + peers]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
