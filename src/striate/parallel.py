"""Run the big ops' work on every core: pieces of the batch on a small thread pool, with the
BLAS held to one thread meanwhile.

NumPy's BLAS (OpenBLAS in the wheels) is multi-threaded, but only inside a GEMM: everything
between GEMMs (building patch matrices, pooling, routing gradients, col2im's adds) runs on one
core, and on a 2-core machine that is half of a convnet step. So inside a *parallel region*
(`fit`, `evaluate` and `predict` open one) striate holds the BLAS to one thread and runs each
large op's pieces side by side: a piece of the batch goes from its patch matrix through its
GEMM to its pooling in one task. NumPy lets go of the GIL in its loops and GEMMs, so the tasks
really run at once (benchmarks/README.md says what that is worth).

The numbers never depend on the threads, by construction (docs/NUMERICS.md). How an op cuts its
work (`split`) depends on the sizes only; each piece computes the same thing whether it runs on
a thread or alone; sums over pieces (the kernel gradient's) are added in piece order; and the
region holds the BLAS to one thread whatever the thread count, one thread included, so every
GEMM runs the same single-threaded kernel on the same rows. (Cutting by the thread count would
not do, nor would letting the BLAS cut a GEMM among its own threads: some kernels round a GEMM's
rows differently depending on where it is cut.) `tests/test_parallel.py` checks this bit for
bit. Where the BLAS's threads cannot be set (only OpenBLAS's and MKL's can), the pieces are the
same but the BLAS keeps its own threads, and a region runs the pieces one by one.

The thread count is `STRIATE_NUM_THREADS` if set, else the cores this process may use; change it
with `set_num_threads`. The BLAS setting is process-wide: while `fit` runs, GEMMs that other
threads of the program make run on one thread too.

>>> with parallel_region():
...     run([lambda: 1, lambda: 2])
[1, 2]
>>> pieces(10, 3)
[(0, 3), (3, 6), (6, 10)]
"""

import contextlib
import ctypes
import functools
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

# An op splits its batch into PIECES_PER_OP tasks when it has at least MIN_PARALLEL_WORK elements
# of work (its patch matrix, say): below that, handing work to a thread costs more than it
# saves (the article model's 32-image conv stays whole: benchmarks/README.md).
MIN_PARALLEL_WORK = 1 << 19
# A dense layer splits when its GEMM has at least this many multiply-adds.
MIN_PARALLEL_MACS = 1 << 24
PIECES_PER_OP = 4

_lock = threading.Lock()
_state = {"threads": None, "pool": None, "depth": 0, "active": False, "saved": None}
_BLAS_SETTERS = (
    ("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
    ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
    ("openblas_set_num_threads64_", "openblas_get_num_threads64_"),
    ("openblas_set_num_threads", "openblas_get_num_threads"),
    ("MKL_Set_Num_Threads", "MKL_Get_Max_Threads"),
)


def num_threads():
    """The number of threads that parallel regions use (at least 1)."""
    if _state["threads"] is None:
        _state["threads"] = _default_threads()
    return _state["threads"]


def set_num_threads(threads):
    """Use `threads` threads (a positive int) in parallel regions from now on; the results do
    not change, only the speed. Raises ValueError inside a region, where it cannot take effect."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"set_num_threads: expected a positive int. Received: {threads!r}.")
    with _lock:
        if _state["depth"]:
            raise ValueError(
                "set_num_threads: cannot change the thread count while fit, "
                "evaluate or predict is running."
            )
        if _state["pool"] is not None:
            _state["pool"].shutdown()
            _state["pool"] = None
        _state["threads"] = threads


def _default_threads():
    value = os.environ.get("STRIATE_NUM_THREADS")
    if value:
        try:
            threads = int(value)
        except ValueError:
            threads = 0
        if threads < 1:
            raise ValueError(f"STRIATE_NUM_THREADS must be a positive int. Received: {value!r}.")
        return threads
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def parallel_region():
    """Within it, the BLAS is held to one thread (restored on exit) and `run` spreads tasks over
    the threads. The BLAS is held on one thread too (when it can be set), so that every GEMM
    runs the same single-threaded kernel whatever the thread count: a multi-threaded BLAS cuts a
    GEMM by its own thread count, and some kernels round the cut rows differently. Nests."""
    with _lock:
        if _state["depth"] == 0:
            setters = _blas_thread_setters()
            if setters:
                _state["saved"] = [(setter, getter()) for setter, getter in setters]
                for setter, _ in _state["saved"]:
                    setter(1)
                if num_threads() > 1:
                    if _state["pool"] is None:
                        _state["pool"] = ThreadPoolExecutor(
                            num_threads() - 1, thread_name_prefix="striate"
                        )
                    _state["active"] = True
        _state["depth"] += 1
    try:
        yield
    finally:
        with _lock:
            _state["depth"] -= 1
            if _state["depth"] == 0:
                _state["active"] = False
                for setter, threads in _state["saved"] or ():
                    setter(max(1, threads))
                _state["saved"] = None


def split(length, work, minimum=None):
    """The (start, stop) pieces that an op over `length` items (a batch) with `work` elements
    cuts its work into: `PIECES_PER_OP` near-equal pieces when the work is at least `minimum`
    (default `MIN_PARALLEL_WORK`), else one. It depends on the sizes only, never on the
    threads, so the numbers do not either."""
    minimum = MIN_PARALLEL_WORK if minimum is None else minimum
    return pieces(length, PIECES_PER_OP if work >= minimum else 1)


def run(tasks):
    """Call every task (a function of no arguments) and return their results in order. In a
    region, the calling thread and the pool's threads each take the next task not yet taken
    until none is left; an exception in any task is raised here, after all have finished."""
    if len(tasks) < 2 or not _state["active"]:
        return [task() for task in tasks]
    results = [None] * len(tasks)
    errors = []
    order = iter(range(len(tasks)))
    take = threading.Lock()

    def drain():
        while True:
            with take:
                index = next(order, None)
            if index is None:
                return
            try:
                results[index] = tasks[index]()
            except BaseException as error:  # noqa: BLE001 - re-raised in the calling thread
                errors.append(error)

    helpers = [_state["pool"].submit(drain) for _ in range(min(num_threads(), len(tasks)) - 1)]
    drain()
    # Every task is taken. Wait for the helpers that took one; one still queued (its thread
    # busy, e.g. running the task that called `run`) is cancelled, so `run` never waits on it.
    for helper in helpers:
        if not helper.cancel():
            helper.result()
    if errors:
        raise errors[0]
    return results


def run_pieces(function, ranges):
    """`run` of `function(start, stop)` for each (start, stop) in `ranges`, in order."""
    return run([functools.partial(function, start, stop) for start, stop in ranges])


def pieces(length, parts):
    """`range(length)` cut into `parts` (at most `length`) near-equal (start, stop) pieces."""
    parts = max(1, min(parts, length))
    bounds = [length * i // parts for i in range(parts + 1)]
    return list(itertools.pairwise(bounds))


_BLAS = None


def _forget_pool_after_fork():
    """A forked child has none of the pool's threads: give it a fresh start."""
    global _lock
    _lock = threading.Lock()
    _state.update(pool=None, depth=0, active=False, saved=None)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _blas_thread_setters():
    """[(set_num_threads, get_num_threads)] for each OpenBLAS or MKL loaded in this process
    (found through /proc/self/maps, so Linux only), or [] if there is none we can control."""
    global _BLAS
    if _BLAS is None:
        _BLAS = []
        for path in _loaded_libraries():
            name = os.path.basename(path).lower()
            if "openblas" not in name and "mkl_rt" not in name:
                continue
            try:
                library = ctypes.CDLL(path)
            except OSError:
                continue
            for setter, getter in _BLAS_SETTERS:
                if hasattr(library, setter) and hasattr(library, getter):
                    set_threads, get_threads = getattr(library, setter), getattr(library, getter)
                    set_threads.argtypes, set_threads.restype = [ctypes.c_int], None
                    get_threads.argtypes, get_threads.restype = [], ctypes.c_int
                    _BLAS.append((set_threads, get_threads))
                    break
    return _BLAS


def _loaded_libraries():
    try:
        with open("/proc/self/maps") as maps:
            fields = [line.split(None, 5) for line in maps]
    except OSError:
        return []
    paths = {parts[5].strip() for parts in fields if len(parts) == 6}
    return sorted(path for path in paths if ".so" in os.path.basename(path))
