"""`MPIStrategy`: the communicator, the start-of-training broadcast, global logs, aborting.

The training loop asks `active()` once per `fit`; it is None unless an `MPIStrategy` was made,
so a program without one runs the single-process loop untouched.
"""

import contextlib
import copy
import os
import sys

import numpy as np

from striate import backend, parallel

INSTALL_HINT = (
    "pip install 'striate[mpi]' (mpi4py) and an MPI library: "
    "apt-get install openmpi-bin libopenmpi-dev"
)
# The running state of every metric (metrics/base.py, metrics/confusion.py): summed over ranks.
_METRIC_STATE = (
    "total",
    "count",
    "true_positives",
    "false_positives",
    "true_negatives",
    "false_negatives",
)
_ACTIVE = [None]


def active():
    """The `MPIStrategy` every `fit` of this process uses, or None."""
    return _ACTIVE[0]


def is_worker():
    """True on ranks other than 0 of an active strategy: they write no files."""
    strategy = _ACTIVE[0]
    return strategy is not None and strategy.rank != 0


def import_mpi():
    """mpi4py's `MPI`, or an ImportError that says what to install."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(
            f"striate.distribute.MPIStrategy needs mpi4py and an MPI library: {INSTALL_HINT}. "
            f"Received: {error}"
        ) from None
    return MPI


class MPIStrategy:
    """Synchronous data parallel over MPI's `COMM_WORLD` (or `comm`). Making one is the one
    line a program adds: from then on every `fit` in the process trains data parallel, and
    `model.save` writes on rank 0 only. Launch with `mpirun -n N python -m mpi4py script.py`.

    - `batch_size` stays the global batch: each rank takes its contiguous share of it.
    - The learning rate is not scaled (use `lr * strategy.size` with a larger batch if you
      want to; the same program on 1 or N processes then trains the same).
    - `BatchNormalization` keeps per-rank batch statistics (as Horovod and Keras's default
      `MirroredStrategy`): its moving averages are those of rank 0's shards.
    - Each rank runs ``max(1, cores // processes on this machine)`` threads unless
      `STRIATE_NUM_THREADS` is set.
    - An uncaught exception on any rank prints its traceback with the rank and aborts the
      whole job (`MPI_Abort`), so no other rank waits forever.

    `scope()` is there for Keras-shaped code (`with strategy.scope(): model = ...`); the
    strategy is active whether or not code runs inside it.
    """

    def __init__(self, comm=None, set_threads=True):
        self.MPI = import_mpi()
        self.comm = comm if comm is not None else self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        local = self.comm.Split_type(self.MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank, self.local_size = local.Get_rank(), local.Get_size()
        local.Free()
        if set_threads and not os.environ.get("STRIATE_NUM_THREADS"):
            cores = parallel._default_threads()
            parallel.set_num_threads(max(1, cores // self.local_size))
        self.allreduce_seconds = 0.0  # time spent in the gradient Allreduce (measurements)
        self.allreduce_calls = 0
        _abort_on_uncaught_exceptions(self)
        _ACTIVE[0] = self

    def __repr__(self):
        return f"MPIStrategy(rank={self.rank}, size={self.size})"

    @property
    def num_replicas_in_sync(self):
        """Keras's name for the number of processes training together."""
        return self.size

    @contextlib.contextmanager
    def scope(self):
        yield self

    def close(self):
        """Stop making `fit` data parallel in this process."""
        if _ACTIVE[0] is self:
            _ACTIVE[0] = None

    # -- collectives ------------------------------------------------------------------------
    def allreduce(self, array):
        """Sum a contiguous ndarray over the ranks, in place."""
        self.comm.Allreduce(self.MPI.IN_PLACE, array, op=self.MPI.SUM)
        return array

    def bcast(self, value):
        """A small Python value from rank 0."""
        return self.comm.bcast(value, root=0)

    def bcast_array(self, array):
        """Rank 0's values of `array` (written into it) on every rank."""
        if array.flags.c_contiguous:
            self.comm.Bcast(array, root=0)
        else:
            buffer = np.ascontiguousarray(array)
            self.comm.Bcast(buffer, root=0)
            np.copyto(array, buffer)

    def abort(self, code=1):
        """End the whole job now (every rank), with exit status `code`."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.comm.Abort(code)

    # -- what fit asks ------------------------------------------------------------------------
    def broadcast_training_state(self, model):
        """Rank 0's weights (all of them, BatchNormalization's moving statistics too),
        optimizer state and shuffling generator on every rank (Horovod's
        `BroadcastGlobalVariablesCallback`), so all ranks start identical."""
        for weight in model.weights:
            self.bcast_array(weight.data)
        optimizer = model.optimizer
        optimizer.iterations = self.bcast(optimizer.iterations)
        packed = optimizer._packed
        if packed is not None:
            for buffer in packed["slots"].values():
                self.bcast_array(buffer)
        elif optimizer.slots:
            for arrays in optimizer.slots.values():
                for array in arrays:
                    self.bcast_array(array)
        self.sync_rng()

    def sync_rng(self):
        """Rank 0's state of the shared generator (shuffling, dropout) on every rank."""
        generator = backend.rng().bit_generator
        generator.state = self.bcast(generator.state)

    def decorrelate_rng(self):
        """Move ranks other than 0 to their own stretch of the shared generator (for dropout
        masks and augmentation), far from rank 0's, which stays the one-process stream."""
        advance = getattr(backend.rng().bit_generator, "advance", None)
        if advance is not None and self.rank:
            advance(self.rank << 96)

    def average_untrained(self, model, trained):
        """Average the weights `fit` does not train (BatchNormalization's moving statistics,
        kept per rank during an epoch) over the ranks, so every rank ends the epoch with the
        same model."""
        ids = {id(v) for v in trained}
        for weight in model.weights:
            if id(weight) in ids or weight.data.dtype.kind != "f":
                continue
            total = self.allreduce(np.ascontiguousarray(weight.data, dtype=weight.data.dtype))
            np.divide(total, self.size, out=weight.data, casting="unsafe")

    def agree(self, flag):
        """Rank 0's decision (stop training...) on every rank."""
        return self.bcast(bool(flag))

    def global_averages(self, averages):
        """A copy of `outputs.Averages` with its sums (samples, losses, every metric's state)
        summed over the ranks: its `logs()` are those of the whole global batch."""
        parts = [np.atleast_1d(np.asarray(averages.count, np.float64))]
        parts.append(np.atleast_1d(np.asarray(averages.loss, np.float64)))
        parts.extend(np.atleast_1d(np.asarray(v, np.float64)) for v in averages.losses)
        states = []
        for _, _, metric, _ in averages.metrics:
            for name in _METRIC_STATE:
                if hasattr(metric, name):
                    value = getattr(metric, name)
                    states.append((metric, name, np.shape(value)))
                    parts.append(np.atleast_1d(np.asarray(value, np.float64)).ravel())
        flat = self.allreduce(np.concatenate(parts))
        result = copy.copy(averages)
        result.metrics = [(n, i, copy.deepcopy(m), w) for n, i, m, w in averages.metrics]
        by_id = {
            id(old): new for (_, _, old, _), (_, _, new, _) in zip(averages.metrics, result.metrics)
        }
        result.count, result.loss = int(flat[0]), float(flat[1])
        at = 2
        result.losses = [float(v) for v in flat[at : at + len(averages.losses)]]
        at += len(averages.losses)
        for metric, name, shape in states:
            size = int(np.prod(shape)) if shape else 1
            values = flat[at : at + size]
            at += size
            setattr(
                by_id[id(metric)], name, float(values[0]) if not shape else values.reshape(shape)
            )
        return result


def _abort_on_uncaught_exceptions(strategy):
    """An uncaught exception on one rank prints its traceback, names the rank and aborts the
    job; otherwise the other ranks would wait in the next collective forever."""
    previous = sys.excepthook
    if getattr(previous, "striate_abort", False):
        return

    def hook(kind, value, traceback):
        print(
            f"striate: rank {strategy.rank} of {strategy.size} failed; aborting the job:",
            file=sys.stderr,
        )
        previous(kind, value, traceback)
        strategy.abort(1)

    hook.striate_abort = True
    sys.excepthook = hook
