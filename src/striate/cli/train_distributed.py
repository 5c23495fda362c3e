"""`striate train --distributed`: the same training on every process `mpirun` started, data
parallel (striate.distribute.MPIStrategy). Rank 0 alone prints and saves; an error on any rank
ends the whole job with that rank's message."""

import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys

from striate.cli.common import UserError


def launch(args):
    """`--processes N`: this same command under `mpirun -n N ... --distributed`; exits with
    its status."""
    from striate import parallel
    from striate.distribute import INSTALL_HINT

    mpirun = shutil.which("mpirun")
    if mpirun is None or importlib.util.find_spec("mpi4py") is None:
        raise UserError(f"--processes needs MPI: {INSTALL_HINT}")
    if os.geteuid() == 0 and not os.environ.get("OMPI_ALLOW_RUN_AS_ROOT"):
        raise UserError(
            "--processes: Open MPI refuses to run as root; as root (a container) set "
            "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1, or run as a user"
        )
    argv, skip = [], False
    for item in args.argv:
        if skip or item == "--processes" or item.startswith("--processes="):
            skip = item == "--processes"
            continue
        argv.append(item)
    if "--distributed" not in argv:
        argv.append("--distributed")
    command = [mpirun, "-n", str(args.processes)]
    if args.processes > parallel._default_threads():
        command.append("--oversubscribe")  # more processes than cores: allowed, but slower
    command += [sys.executable, "-m", "mpi4py", "-m", "striate", *argv]
    print(f"striate train: {' '.join(command)}", file=sys.stderr, flush=True)
    code = subprocess.run(command, check=False).returncode
    if code:
        raise SystemExit(code)


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
