"""Synchronous data-parallel training over MPI (mpi4py), Horovod's recipe in Keras's shape.

One line makes every `fit` in the process data parallel; the same script runs on one process or
under `mpirun -n N`:

    strategy = striate.distribute.MPIStrategy()

What it does (docs/SCALING.md): rank 0 broadcasts the weights, the optimizer state and the
shuffling generator when `fit` starts; each rank trains on its share of every global batch (the
`batch_size` the user asked for, split across ranks); one `Allreduce` per step sums the packed
gradients weighted by each rank's sample count, so every rank applies the same update as one
process would for the whole batch; the logged loss and metrics are global; only rank 0 prints,
writes files (checkpoints, CSV logs, `model.save`) and shows progress. An exception on any rank
aborts the whole job. `import striate` never imports mpi4py: `MPIStrategy()` does.
"""

from striate.distribute.mpi import INSTALL_HINT, MPIStrategy, active, is_worker

__all__ = ["INSTALL_HINT", "MPIStrategy", "active", "is_worker"]
