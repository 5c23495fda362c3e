"""`striate train --distributed`: the same training on every process `mpirun` started, data
parallel (striate.distribute.MPIStrategy). Rank 0 alone prints and saves; an error on any rank
ends the whole job with that rank's message."""

import contextlib
import os
import sys

from striate.cli.common import UserError


def run(args, train):
    from striate.distribute import INSTALL_HINT, MPIStrategy

    try:
        strategy = MPIStrategy()
    except ImportError:
        raise UserError(f"--distributed needs MPI: {INSTALL_HINT}") from None
    if strategy.size == 1:
        print(
            "striate train: warning: --distributed on 1 process; start it with "
            "mpirun -n N python -m mpi4py -m striate train ... --distributed",
            file=sys.stderr,
        )
    quiet = open(os.devnull, "w") if strategy.rank else None  # noqa: SIM115 (closed below)
    try:
        with contextlib.redirect_stdout(quiet) if quiet else contextlib.nullcontext():
            return train(args)
    except BaseException as error:
        if strategy.size > 1 and not isinstance(error, KeyboardInterrupt):
            # one rank failing would leave the others waiting in the next collective forever
            detail = error if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
            print(
                f"striate train: error on rank {strategy.rank} of {strategy.size}: {detail}",
                file=sys.stderr,
            )
            strategy.abort(1)
        raise
    finally:
        if quiet:
            quiet.close()
