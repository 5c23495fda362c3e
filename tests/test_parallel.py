"""striate.parallel: in a parallel region the ops give bit-identical numbers on any number of
threads, training too (by construction: the same pieces, the same single-threaded GEMMs; outside
a region the BLAS picks its own threads, so there only within rounding: tests/rounding.py); the
region holds the BLAS to one thread and gives it back; tasks' errors reach the caller."""

import collections
import threading

import numpy as np
import pytest
from conftest import require_real_data
from rounding import assert_equal_within_rounding

from striate import parallel, zoo
from striate.datasets import fashion_mnist
from striate.ops.conv import conv2d
from striate.ops.conv_pool import conv2d_max_pool2d
from striate.ops.dense import dense
from striate.ops.pool import max_pool2d
from striate.tensor import Tensor
from striate.utils import set_random_seed


@pytest.fixture(params=[2, 4])
def split_everything(monkeypatch, request):
    """Let even the tiny test ops split into pieces, so that every path runs threaded."""
    monkeypatch.setattr(parallel, "MIN_PARALLEL_WORK", 0)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_MACS", 0)
    monkeypatch.setattr(parallel, "PIECES_PER_OP", request.param)
    yield
    parallel.set_num_threads(parallel._default_threads())


def forward_backward(op, arrays, trainable, seed=3):
    tensors = [Tensor(a.copy(), requires_grad=r) for a, r in zip(arrays, trainable)]
    out = op(*tensors)
    out.backward(np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype))
    return [out.data] + [t.grad for t in tensors]


def assert_same(results):
    first = results[0]
    for other in results[1:]:
        for got, want in zip(other, first):
            assert (got is None) == (want is None)
            if got is not None:
                assert got.dtype == want.dtype and np.array_equal(got, want, equal_nan=True)


def assert_within_rounding(results, reference):
    for got, want in zip(results, reference, strict=True):
        assert (got is None) == (want is None)
        if got is not None:
            assert_equal_within_rounding(got, want)


OPS = {
    "conv rows valid": lambda x, k, b: conv2d(x, k, b),
    "conv rows same stride 2": lambda x, k, b: conv2d(x, k, b, strides=2, padding="same"),
    "conv blocks": lambda x, k, b: conv2d(x, k, b, pixel_order="blocks"),
    "conv blocks then pool": lambda x, k, b: max_pool2d(conv2d(x, k, b, pixel_order="blocks")),
    "fused": lambda x, k, b: conv2d_max_pool2d(x, k, b),
    "fused relu same": lambda x, k, b: conv2d_max_pool2d(x, k, b, padding="same", relu=True),
}


@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("channels", [1, 6])  # kernel-major and pixel-major patches
@pytest.mark.parametrize(
    "trainable", [(True, True, True), (False, True, True), (True, False, True), (True, True, False)]
)
def test_ops_give_the_same_numbers_on_any_number_of_threads(
    split_everything, name, channels, trainable
):
    rng = np.random.default_rng(0)
    # 5 images (uneven chunks), odd 7x9 convolution output (pixels no pool window covers)
    arrays = [
        rng.standard_normal((5, 9, 11, channels)).astype(np.float32),
        rng.standard_normal((3, 3, channels, 4)).astype(np.float32),
        rng.standard_normal(4).astype(np.float32),
    ]
    outside = forward_backward(OPS[name], arrays, trainable)  # serial, the BLAS's own threads
    results = []
    for threads in (1, 2, 3, 5, 8):
        parallel.set_num_threads(threads)
        with parallel.parallel_region():
            assert parallel._state["active"] == (threads > 1)
            results.append(forward_backward(OPS[name], arrays, trainable))
    assert_same(results)
    assert_within_rounding(outside, results[0])


@pytest.mark.parametrize("shape", [(7, 13), (5, 9, 11, 6)])
@pytest.mark.parametrize("trainable", [(True, True, True), (False, True, False)])
def test_dense_gives_the_same_numbers_on_any_number_of_threads(split_everything, shape, trainable):
    rng = np.random.default_rng(4)
    arrays = [
        rng.standard_normal(shape).astype(np.float32),
        rng.standard_normal((shape[-1], 5)).astype(np.float32),
        rng.standard_normal(5).astype(np.float32),
    ]
    outside = forward_backward(dense, arrays, trainable)
    results = []
    for threads in (1, 2, 3):
        parallel.set_num_threads(threads)
        with parallel.parallel_region():
            results.append(forward_backward(dense, arrays, trainable))
    assert_same(results)
    assert_within_rounding(outside, results[0])


def train_convnet(threads, x, y):
    parallel.set_num_threads(threads)
    set_random_seed(7)
    model = zoo.convnet()
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam", metrics=["acc"])
    history = model.fit(x, y, batch_size=128, epochs=1, verbose=0, validation_data=(x, y))
    return (
        model.get_weights()
        + [model.predict(x, verbose=0)]
        + [np.array(values) for values in history.history.values()]
    )


def test_training_gives_the_same_weights_on_any_number_of_threads():
    """The real thing: Fashion-MNIST at the benchmark's batch size (the ops split by the default
    rule), with validation and predict."""
    require_real_data()
    (x, y), _ = fashion_mnist.load_data()
    x, y = x[:384, :, :, None] / np.float32(255), y[:384]
    try:
        one, two, three = (train_convnet(threads, x, y) for threads in (1, 2, 3))
    finally:
        parallel.set_num_threads(parallel._default_threads())
    assert_same([one, two, three])


def test_region_holds_the_blas_to_one_thread_and_restores_it():
    setters = parallel._blas_thread_setters()
    if not setters:
        pytest.skip("no OpenBLAS or MKL whose threads can be set in this process")
    parallel.set_num_threads(2)
    _, get_threads = setters[0]
    before = get_threads()
    with parallel.parallel_region():
        assert get_threads() == 1 and parallel._state["active"]
        with parallel.parallel_region():  # nested: still held
            assert get_threads() == 1
        assert get_threads() == 1
    assert get_threads() == before and not parallel._state["active"]
    parallel.set_num_threads(parallel._default_threads())


def test_region_holds_the_blas_with_one_thread_too():
    """With one thread the region runs tasks in turn, but its GEMMs must still be the BLAS's
    single-threaded ones, as with more threads: else STRIATE_NUM_THREADS=1 would round
    differently from 2 on kernels that round a GEMM's rows by where the BLAS cuts it."""
    setters = parallel._blas_thread_setters()
    if not setters:
        pytest.skip("no OpenBLAS or MKL whose threads can be set in this process")
    parallel.set_num_threads(1)
    try:
        _, get_threads = setters[0]
        before = get_threads()
        with parallel.parallel_region():
            assert get_threads() == 1 and not parallel._state["active"]
        assert get_threads() == before
    finally:
        parallel.set_num_threads(parallel._default_threads())


def test_run_returns_results_in_order_and_raises_a_tasks_error_after_all_finish():
    parallel.set_num_threads(3)
    finished = []

    def task(i):
        def work():
            if i == 2:
                raise KeyError("task 2 failed")
            finished.append(i)
            return i * i

        return work

    try:
        with parallel.parallel_region():
            assert parallel.run([task(i) for i in (0, 1, 3, 4)]) == [0, 1, 9, 16]
            with pytest.raises(KeyError, match="task 2 failed"):
                parallel.run([task(i) for i in range(6)])
        assert sorted(finished[4:]) == [0, 1, 3, 4, 5]
    finally:
        parallel.set_num_threads(parallel._default_threads())


def test_pieces_cover_the_range_evenly():
    for length in (1, 2, 7, 128):
        for parts in (1, 2, 3, 200):
            cut = parallel.pieces(length, parts)
            assert cut[0][0] == 0 and cut[-1][1] == length
            assert all(a < b for a, b in cut) and all(
                cut[i][1] == cut[i + 1][0] for i in range(len(cut) - 1)
            )
            sizes = [b - a for a, b in cut]
            assert max(sizes) - min(sizes) <= 1 and len(cut) == min(length, parts)


def test_thread_count_errors(monkeypatch):
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="set_num_threads: expected a positive int"):
            parallel.set_num_threads(bad)
    with parallel.parallel_region(), pytest.raises(ValueError, match="while fit, evaluate"):
        parallel.set_num_threads(2)
    monkeypatch.setenv("STRIATE_NUM_THREADS", "two")
    with pytest.raises(
        ValueError, match="STRIATE_NUM_THREADS must be a positive int. Received: 'two'"
    ):
        parallel._default_threads()
    monkeypatch.setenv("STRIATE_NUM_THREADS", "3")
    assert parallel._default_threads() == 3


@pytest.mark.parametrize("channels", [1, 6])
def test_fused_equals_unfused_in_pieces(split_everything, channels):
    rng = np.random.default_rng(2)
    arrays = [
        rng.standard_normal((6, 9, 8, channels)).astype(np.float32),
        rng.standard_normal((2, 2, channels, 3)).astype(np.float32),
        rng.standard_normal(3).astype(np.float32),
    ]
    parallel.set_num_threads(2)
    with parallel.parallel_region():
        assert_same(
            [
                forward_backward(OPS["fused"], arrays, (True, True, True)),
                forward_backward(OPS["conv blocks then pool"], arrays, (True, True, True)),
            ]
        )


def test_run_inside_a_task_and_in_a_forked_child_does_not_hang():
    import multiprocessing

    parallel.set_num_threads(2)
    try:
        with parallel.parallel_region():
            inner = [lambda: parallel.run([lambda: 1, lambda: 2, lambda: 3])] * 3
            assert parallel.run(inner) == [[1, 2, 3]] * 3
            if "fork" in multiprocessing.get_all_start_methods():
                child = multiprocessing.get_context("fork").Process(target=_child_work)
                child.start()
                child.join(60)
                assert child.exitcode == 0
    finally:
        parallel.set_num_threads(parallel._default_threads())


def _child_work():
    with parallel.parallel_region():
        assert parallel.run([lambda: 1, lambda: 2]) == [1, 2]
    x = np.random.default_rng(0).standard_normal((8, 12, 12, 1)).astype(np.float32)
    model = zoo.convnet((12, 12, 1))
    model.compile(loss="sparse_categorical_crossentropy", optimizer="adam")
    model.fit(x, np.arange(8) % 10, batch_size=8, verbose=0)


def gemms_of_a_fit(threads, x, y):
    """Every GEMM that a short convnet fit (with validation and predict) makes: the shapes of
    its operands, and the BLAS's thread count at the time."""
    setters = parallel._blas_thread_setters()
    get_threads = setters[0][1] if setters else (lambda: None)
    calls, lock, matmul = [], threading.Lock(), np.matmul

    def recording_matmul(a, b, *args, **kwargs):
        with lock:
            calls.append((np.shape(a), np.shape(b), get_threads()))
        return matmul(a, b, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(np, "matmul", recording_matmul)
        train_convnet(threads, x, y)
    return collections.Counter(calls)


def test_every_gemm_has_the_same_shape_and_one_blas_thread_on_any_number_of_threads():
    """The thread invariance by construction, checked without trusting any kernel's rounding:
    whatever the thread count, training makes the same GEMMs (same operand shapes, as many of
    each) and the BLAS runs each of them on one thread."""
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (300, 28, 28, 1)).astype(np.float32)
    y = rng.integers(0, 10, 300)
    try:
        counts = [gemms_of_a_fit(threads, x, y) for threads in (1, 2, 3)]
    finally:
        parallel.set_num_threads(parallel._default_threads())
    assert counts[0] and counts[0] == counts[1] == counts[2]
    if parallel._blas_thread_setters():
        assert {blas_threads for _, _, blas_threads in counts[0]} == {1}
