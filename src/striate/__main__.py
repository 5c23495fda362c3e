"""`python -m striate ...` runs the `striate` command (e.g. under `mpirun ... python -m mpi4py`)."""

import sys

from striate.cli import main

if __name__ == "__main__":
    sys.exit(main())
