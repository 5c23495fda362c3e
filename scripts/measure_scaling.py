"""Measure data-parallel training for docs/SCALING.md: images/s, time per epoch and the time in
the gradient Allreduce per step, for one process or N under mpirun.

    python scripts/measure_scaling.py --model convnet --samples 6000 --epochs 2
    mpirun -n 2 python -m mpi4py scripts/measure_scaling.py --model convnet --samples 6000

Under mpirun (or with --mpi) it trains with striate.distribute.MPIStrategy; rank 0 prints one
JSON line (and appends it to --out). The first epoch warms up; the numbers are the later
epochs'. The machine's load average is recorded before and after (others may share the cores).
"""

import argparse
import json
import os
import sys
import time

import numpy as np

import striate
from striate import layers, zoo


def toy_resnet(shape=(32, 32, 3)):
    """The Keras guide's toy ResNet ("The Functional API"): 223,242 parameters."""
    inputs = striate.Input(shape=shape)
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1 = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2 = layers.add([x, block_1])
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3 = layers.add([x, block_2])
    x = layers.Conv2D(64, 3, activation="relu")(block_3)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    return striate.Model(inputs, layers.Dense(10, activation="softmax")(x))


def data(model_name, samples):
    if model_name == "convnet":
        (x, y), _ = striate.datasets.fashion_mnist.load_data()
        return (x[:samples, ..., None] / 255.0).astype(np.float32), y[:samples]
    rng = np.random.default_rng(0)  # the ResNet's CIFAR-sized input: only the time matters
    x = rng.random((samples, 32, 32, 3), dtype=np.float32)
    return x, rng.integers(0, 10, samples)


class EpochTimes(striate.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times, self.began = [], 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.began = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.began)


def allreduce_times(strategy, sizes, repeats=50):
    """Seconds per Allreduce of float32 buffers of `sizes` elements, alone (no training):
    the cost the model below fits, without the wait for the slowest rank."""
    times = {}
    for size in sizes:
        buffer = np.ones(size, np.float32)
        strategy.allreduce(buffer)  # warm up
        strategy.comm.Barrier()
        began = time.perf_counter()
        for _ in range(repeats):
            strategy.allreduce(buffer)
        times[size] = (time.perf_counter() - began) / repeats
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=("convnet", "toy_resnet"), default="convnet")
    parser.add_argument("--samples", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--mpi", action="store_true", help="use MPIStrategy even on 1 process")
    parser.add_argument("--out", default=None, help="append the JSON line to this file")
    parser.add_argument(
        "--allreduce-sizes",
        default=None,
        metavar="N,N,...",
        help="only time Allreduce of float32 buffers of these sizes (under mpirun)",
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    under_mpirun = "OMPI_COMM_WORLD_SIZE" in os.environ or "PMI_SIZE" in os.environ
    strategy = striate.distribute.MPIStrategy() if args.mpi or under_mpirun else None
    if args.allreduce_sizes:
        sizes = [int(v) for v in args.allreduce_sizes.split(",")]
        times = allreduce_times(strategy, sizes)
        if strategy.rank == 0:
            ms = {size: round(1000 * t, 4) for size, t in times.items()}
            print(json.dumps({"processes": strategy.size, "allreduce_ms": ms}), flush=True)
        return
    striate.utils.set_random_seed(0)
    x, y = data(args.model, args.samples)
    model = zoo.convnet() if args.model == "convnet" else toy_resnet()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    timer = EpochTimes()
    model.fit(x, y, batch_size=args.batch_size, epochs=args.epochs, verbose=0, callbacks=[timer])
    if strategy is not None and strategy.rank:
        return
    later = timer.times[1:] or timer.times
    epoch_s = float(np.mean(later))
    steps = -(-args.samples // args.batch_size)
    result = {
        "model": args.model,
        "processes": strategy.size if strategy else 1,
        "threads_per_process": striate.num_threads(),
        "samples": args.samples,
        "batch_size": args.batch_size,
        "epoch_s": round(epoch_s, 3),
        "images_per_s": round(args.samples / epoch_s, 1),
        "epoch_times_s": [round(t, 3) for t in timer.times],
        "params": model.count_params(),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }
    if strategy is not None:
        calls = max(strategy.allreduce_calls, 1)
        result["allreduce_ms_per_step"] = round(1000 * strategy.allreduce_seconds / calls, 3)
        result["allreduce_share"] = round(strategy.allreduce_seconds / sum(timer.times), 4)
        result["steps_per_epoch"] = steps
    line = json.dumps(result)
    print(line, flush=True)
    if args.out:
        with open(args.out, "a") as file:
            file.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
