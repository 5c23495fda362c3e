"""The cost of the data pipeline: one epoch of the convnet from a folder of PNGs vs from memory.

    python benchmarks/data_pipeline.py [--samples 10000] [--batch 128] [--folder DIR]

Writes the first `--samples` Fashion-MNIST training images as 28x28 grayscale PNGs into
`--folder` (a temporary folder by default; one subfolder per class), then measures, each in a
fresh subprocess (so each peak RSS is its own), with the same seed and model:

  memory        the arrays in memory, `model.fit(x / 255, y, batch_size)`
  folder        `image_dataset_from_directory(...).map(x / 255)`, prefetching on (2 batches ahead)
  folder, no prefetch   the same with `.prefetch(0)` (decoding in the training thread)
  decode only   one pass over the dataset without training, prefetch on and off

and prints a markdown table (seconds, peak RSS). Put it in benchmarks/README.md.

How a dataset is trained: through `model.fit(dataset, epochs=1)` when `fit` takes an iterable
of batches with `__len__` (issue 13); else `model.train_on_batch(x, y)` per batch if it exists;
else (TODO, until the training loop takes datasets) `model.fit(x, y, batch_size=len(x))` per
batch, which adds per-call overhead: the table's "path" column says which one ran.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from workloads import read_idx  # noqa: E402

ROWS = {
    "memory": ("memory", "-", "train"),
    "folder": ("PNG folder", "on", "train"),
    "folder-no-prefetch": ("PNG folder", "off", "train"),
    "decode": ("PNG folder, decode only", "on", "decode"),
    "decode-no-prefetch": ("PNG folder, decode only", "off", "decode"),
}


def write_folder(folder, samples):
    from PIL import Image

    x = read_idx("train-images-idx3-ubyte.gz")[:samples]
    y = read_idx("train-labels-idx1-ubyte.gz")[:samples]
    for label in range(10):
        os.makedirs(os.path.join(folder, str(label)), exist_ok=True)
    for i, (image, label) in enumerate(zip(x, y)):
        Image.fromarray(image, "L").save(os.path.join(folder, str(label), f"{i:05d}.png"))


def model():
    import striate
    from striate import zoo

    striate.utils.set_random_seed(0)
    net = zoo.convnet()
    net.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    return net


def dataset(folder, batch, prefetch):
    from striate.utils import image_dataset_from_directory

    data = image_dataset_from_directory(
        folder,
        color_mode="grayscale",
        image_size=(28, 28),
        batch_size=batch,
        seed=0,
        verbose=False,
    )
    data = data.map(lambda x, y: (x / np.float32(255), y.astype(np.int64)))
    return data if prefetch else data.prefetch(0)


def fit_dataset(net, data):
    """Train one epoch on `data`; returns the path taken (see the module docstring)."""
    try:
        net.fit(data, epochs=1, verbose=0)
        return "fit(dataset)"
    except (TypeError, ValueError, AttributeError) as error:  # fit takes arrays only here
        refused = error
    if hasattr(net, "train_on_batch"):
        for x, y in data:
            net.train_on_batch(x, y)
        return "train_on_batch"
    # TODO(issue 13): drop this once fit takes an iterable of batches with __len__.
    print(f"fit refused the dataset ({refused}); fit per batch", file=sys.stderr)
    for x, y in data:
        net.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
    return "fit per batch (TODO)"


def row(name, folder, samples, batch):
    """One measurement in this process: (seconds, path)."""
    where, prefetch, kind = ROWS[name]
    if name == "memory":
        x = read_idx("train-images-idx3-ubyte.gz")[:samples, :, :, None] / np.float32(255)
        y = read_idx("train-labels-idx1-ubyte.gz")[:samples].astype(np.int64)
        net = model()
        start = time.perf_counter()
        net.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        return time.perf_counter() - start, "fit(arrays)"
    data = dataset(folder, batch, prefetch == "on")
    if kind == "decode":
        start = time.perf_counter()
        count = sum(len(y) for _, y in data)
        assert count == samples, count
        return time.perf_counter() - start, "iterate"
    net = model()
    start = time.perf_counter()
    path = fit_dataset(net, data)
    return time.perf_counter() - start, path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--folder", help="where to write the PNGs (default: a temporary folder)")
    parser.add_argument("--row", choices=sorted(ROWS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.row:
        seconds, path = row(args.row, args.folder, args.samples, args.batch)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"seconds": seconds, "path": path, "rss_mb": rss}))
        return
    with tempfile.TemporaryDirectory(prefix="striate-pngs-") as scratch:
        folder = args.folder or scratch
        start = time.perf_counter()
        write_folder(folder, args.samples)
        print(f"wrote {args.samples} PNGs to {folder} in {time.perf_counter() - start:.1f} s")
        print(f"\none epoch of the convnet, {args.samples} images, batch {args.batch}\n")
        print("| data | prefetch | path | seconds | peak RSS MB |")
        print("|---|---|---|---:|---:|")
        for name, (where, prefetch, _) in ROWS.items():
            command = [sys.executable, __file__, "--row", name, "--folder", folder]
            command += ["--samples", str(args.samples), "--batch", str(args.batch)]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode:
                sys.exit(f"{name} failed:\n{result.stderr[-3000:]}")
            measured = json.loads(result.stdout.splitlines()[-1])
            print(
                f"| {where} | {prefetch} | {measured['path']} | {measured['seconds']:.2f} | "
                f"{measured['rss_mb']:.0f} |"
            )


if __name__ == "__main__":
    main()
