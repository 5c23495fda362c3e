"""One rank of a distributed test (tests/test_distribute.py starts it under `mpirun`), and the
model and data its one-process reference uses (imported by the test).

    mpirun -n 2 python -m mpi4py tests/mpi_worker.py --out DIR [options]

Writes DIR/rank{R}-epoch{E}.npy (every weight, packed, after each epoch), DIR/history-rank{R}.json
and, with --checkpoint, DIR/ckpt-{epoch}.striate (rank 0 only, by ModelCheckpoint).
"""

import argparse
import json
import os
import signal

import numpy as np

import striate
from striate import backend, utils
from striate.callbacks import Callback, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
from striate.layers import BatchNormalization, Conv2D, Dense, Flatten, Input, MaxPool2D


def data(samples, seed=7):
    """Digit-like 8x8 images and 10 labels, the same on every rank (a fixed seed)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(samples, 8, 8, 1))
    y = (np.abs(x[:, 2:6, 2:6, 0]).sum(axis=(1, 2)) * 1.3).astype(np.int64) % 10
    return x, y


class Batches(striate.models.data_adapters.PyDataset):
    """`data()` in batches of `batch`; notes each index fetched in `fetched`."""

    def __init__(self, x, y, batch):
        super().__init__()
        self.x, self.y, self.batch, self.fetched = x, y, batch, []

    def __len__(self):
        return -(-len(self.x) // self.batch)

    def __getitem__(self, index):
        self.fetched.append(index)
        rows = slice(index * self.batch, (index + 1) * self.batch)
        return self.x[rows], self.y[rows]


def model(kind="plain", optimizer="sgd", floatx="float64", lr=None):
    backend.set_floatx(floatx)
    utils.set_random_seed(0)
    layers = [Input(shape=(8, 8, 1)), Conv2D(6, 3, activation="relu"), MaxPool2D(2)]
    if kind == "bn":
        layers.append(BatchNormalization())
    layers += [Conv2D(8, 2, padding="same", strides=2, activation="relu"), Flatten(), Dense(10)]
    net = striate.Sequential(layers)
    chosen = (
        striate.optimizers.SGD(lr or 0.05, momentum=0.9)
        if optimizer == "sgd"
        else striate.optimizers.Adam(lr or 0.01)
    )
    net.compile(loss="sparse_categorical_crossentropy", optimizer=chosen, metrics=["acc"])
    return net


def packed(net):
    return np.concatenate([np.ravel(w.data) for w in net.weights])


class DumpWeights(Callback):
    """Every rank writes its weights after each epoch (a test's probe, not a user's file)."""

    def __init__(self, out, rank):
        super().__init__()
        self.out, self.rank = out, rank

    def on_epoch_end(self, epoch, logs=None):
        np.save(os.path.join(self.out, f"rank{self.rank}-epoch{epoch + 1}.npy"), packed(self.model))


class Faults(DumpWeights):
    """DumpWeights, and per step: raise on rank 1, poison rank 1's weights, or kill rank 0."""

    def __init__(self, out, rank, fail_at=None, die_at=None, poison_at=None):
        super().__init__(out, rank)
        self.fail_at, self.die_at, self.poison_at = fail_at, die_at, poison_at
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.fail_at is not None and self.rank == 1 and self.steps == self.fail_at:
            raise RuntimeError(f"planned failure on rank 1 at step {self.steps}")
        if self.poison_at is not None and self.rank == 1 and self.steps == self.poison_at:
            self.model.weights[0].data[...] = np.inf  # rank 1's next loss is not finite
        if self.die_at is not None and self.rank == 0 and self.steps == self.die_at:
            os.kill(os.getpid(), signal.SIGKILL)  # a job killed mid-epoch: no cleanup at all


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--model", default="plain")
    parser.add_argument("--floatx", default="float64")
    parser.add_argument("--samples", type=int, default=96)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--shuffle", type=int, default=1)
    parser.add_argument("--fail-at", type=int, default=None)
    parser.add_argument("--die-at", type=int, default=None)
    parser.add_argument("--checkpoint", action="store_true")
    parser.add_argument("--lr", type=float, default=None)
    parser.add_argument("--checkpoint-every", type=int, default=None)
    parser.add_argument("--poison-at", type=int, default=None)
    parser.add_argument("--early-stop", action="store_true")
    parser.add_argument("--data", default="arrays", help="arrays, pydataset or a folder")
    parser.add_argument("--resume", default=None)
    parser.add_argument("--initial-epoch", type=int, default=0)
    args = parser.parse_args()
    strategy = striate.distribute.MPIStrategy()
    net = model(args.model, args.optimizer, args.floatx, args.lr)
    if args.resume:
        net = striate.saving.load_model(args.resume)
    x, y = data(args.samples)
    x = x.astype(args.floatx)
    train, read = (x, y), None
    if args.data == "pydataset":
        train = read = Batches(x, y, args.batch)
    elif args.data != "arrays":  # an image folder: note the files this rank decodes
        from striate.datasets import image_dataset

        decode, read = image_dataset._decode, []

        def noting(pool, paths, reading, skipped):
            read.extend(paths)
            return decode(pool, paths, reading, skipped)

        image_dataset._decode = noting
        folder = striate.datasets.image_dataset_from_directory(
            args.data, image_size=(8, 8), color_mode="grayscale", batch_size=args.batch, seed=1
        )
        train = folder
    faults = (args.fail_at, args.die_at, args.poison_at)
    if any(v is not None for v in faults):
        callbacks = [Faults(args.out, strategy.rank, *faults)]
    else:  # no per-batch hook: only rank 0's ModelCheckpoint or progress bar may have one
        callbacks = [DumpWeights(args.out, strategy.rank)]
    if args.early_stop:  # the second epoch cannot improve by 10: stop there, on every rank
        callbacks.append(EarlyStopping(monitor="val_loss", patience=0, min_delta=10, verbose=1))
        callbacks.append(ReduceLROnPlateau(monitor="loss", patience=0, min_delta=10, factor=0.5))
    if args.checkpoint:
        every = args.checkpoint_every or "epoch"  # batches: a per-batch hook on rank 0 only
        path = os.path.join(args.out, "ckpt-{epoch}.striate")
        callbacks.append(ModelCheckpoint(path, save_freq=every))
    history = net.fit(
        *(train if isinstance(train, tuple) else (train,)),
        batch_size=None if read is not None else args.batch,
        epochs=args.epochs,
        shuffle=bool(args.shuffle),
        verbose=2,
        callbacks=callbacks,
        validation_data=(x[:40], y[:40]),
        initial_epoch=args.initial_epoch,
    )
    with open(os.path.join(args.out, f"history-rank{strategy.rank}.json"), "w") as file:
        json.dump(history.history, file)
    info = {"threads": striate.num_threads(), "size": strategy.size}
    info["learning_rate"] = float(net.optimizer.learning_rate)
    if read is not None:
        info["read"] = read.fetched if isinstance(read, Batches) else read
    with open(os.path.join(args.out, f"info-rank{strategy.rank}.json"), "w") as file:
        json.dump(info, file)


if __name__ == "__main__":
    main()
