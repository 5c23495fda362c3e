"""Data-parallel training over MPI (striate.distribute): N ranks equal one process.

The distributed runs are `mpirun` subprocesses of tests/mpi_worker.py with timeouts (pytest never
runs under mpirun, so a hang is a timeout, not a stuck CI), over shared memory (vader) and over
TCP on the loopback interface; the one-process reference runs here. They skip without
mpirun/mpi4py, and fail under CI=true, which must run them.
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import striate
from striate import backend

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "mpi_worker.py")
TRANSPORTS = {
    "vader": ["--mca", "btl", "self,vader"],
    "tcp": ["--mca", "btl", "self,tcp", "--mca", "btl_tcp_if_include", "lo"],
}


def require_mpi():
    missing = [
        what
        for what, there in (
            ("mpirun (apt-get install openmpi-bin libopenmpi-dev)", shutil.which("mpirun")),
            ("mpi4py (pip install 'striate[mpi]')", importlib.util.find_spec("mpi4py")),
        )
        if not there
    ]
    if not missing:
        return
    message = f"{' and '.join(missing)} missing"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: the distributed tests must run)")
    pytest.skip(message)


def mpi_env(**extra):
    env = dict(os.environ)
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_btl_vader_single_copy_mechanism="none",  # CMA fails in containers
        OMPI_MCA_rmaps_base_oversubscribe="1",  # -n 4 on 2 cores
        PYTHONPATH=os.pathsep.join(p for p in sys.path if p and os.path.isdir(p)),
    )
    env.pop("STRIATE_NUM_THREADS", None)
    env.update(extra)
    return env


def mpirun(n, out, *args, transport="vader", timeout=180, env=None, module=None):
    """Run the worker (or `-m module`) on n ranks; the CompletedProcess (stdout+stderr)."""
    require_mpi()
    target = ["-m", module] if module else [WORKER, "--out", str(out)]
    command = ["mpirun", "-n", str(n), *TRANSPORTS[transport], sys.executable, "-m", "mpi4py"]
    return subprocess.run(
        command + target + [str(a) for a in args],
        env=env or mpi_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        cwd=str(out),
    )


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:]
    return result


@pytest.fixture
def worker():
    """tests/mpi_worker.py as a module, with floatx put back afterwards."""
    import mpi_worker

    previous = backend.floatx()
    yield mpi_worker
    backend.set_floatx(previous)


def reference(
    worker, optimizer, samples, batch, epochs, model="plain", shuffle=True, floatx="float64"
):
    """One process: the weights after each epoch and the History."""
    net = worker.model(model, optimizer, floatx)
    x, y = worker.data(samples)
    x = x.astype(floatx)
    weights = []

    class Dump(striate.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            weights.append(worker.packed(self.model))

    history = net.fit(
        x,
        y,
        batch_size=batch,
        epochs=epochs,
        shuffle=shuffle,
        verbose=0,
        callbacks=[Dump()],
        validation_data=(x[:40], y[:40]),
    )
    return weights, history.history


def rank_weights(out, ranks, epoch):
    return [np.load(os.path.join(out, f"rank{r}-epoch{epoch}.npy")) for r in range(ranks)]


def relative(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


def assert_equivalent(out, ranks, expected, history, tolerance=1e-10):
    for epoch, want in enumerate(expected, start=1):
        got = rank_weights(out, ranks, epoch)
        for r in range(1, ranks):  # every rank holds the same weights, bit for bit
            assert np.array_equal(got[r], got[0]), f"rank {r} differs after epoch {epoch}"
        assert relative(got[0], want) < tolerance, f"epoch {epoch}"
    with open(os.path.join(out, "history-rank0.json")) as file:
        logged = json.load(file)
    assert sorted(logged) == sorted(history)
    for key, values in history.items():  # global metrics, not rank 0's own
        np.testing.assert_allclose(logged[key], values, rtol=tolerance, err_msg=key)


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["vader", "tcp"])
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_two_ranks_of_16_equal_one_process_of_32(tmp_path, worker, optimizer, transport):
    ok(mpirun(2, tmp_path, "--optimizer", optimizer, "--epochs", 2, transport=transport))
    expected, history = reference(worker, optimizer, 96, 32, 2)
    assert_equivalent(tmp_path, 2, expected, history)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_four_ranks_with_an_uneven_last_batch(tmp_path, worker, optimizer):
    # 90 samples in batches of 32: the last global batch of 26 is split 6, 7, 6, 7
    args = ("--optimizer", optimizer, "--samples", 90, "--epochs", 2)
    ok(mpirun(4, tmp_path, *args, timeout=240))
    expected, history = reference(worker, optimizer, 90, 32, 2)
    assert_equivalent(tmp_path, 4, expected, history)


@pytest.mark.slow
def test_in_float32_two_ranks_equal_one_process_within_rounding(tmp_path, worker):
    # only the order of the sums changes: mean of rank sums against one mean
    ok(mpirun(2, tmp_path, "--optimizer", "adam", "--epochs", 2, "--floatx", "float32"))
    expected, history = reference(worker, "adam", 96, 32, 2, floatx="float32")
    assert_equivalent(tmp_path, 2, expected, history, tolerance=1e-5)


@pytest.mark.slow
def test_deciding_callbacks_decide_the_same_on_every_rank(tmp_path):
    result = ok(mpirun(2, tmp_path, "--epochs", 5, "--early-stop"))
    assert result.stdout.count("early stopping") == 1  # rank 0 alone prints
    for rank in range(2):
        with open(tmp_path / f"info-rank{rank}.json") as file:
            assert json.load(file)["learning_rate"] == 0.05 * 0.5  # reduced once, at epoch 2
        assert os.path.exists(tmp_path / f"rank{rank}-epoch2.npy")
        assert not os.path.exists(tmp_path / f"rank{rank}-epoch3.npy")


@pytest.mark.slow
def test_a_per_batch_callback_on_rank_0_only(tmp_path, worker):
    """ModelCheckpoint(save_freq=2) lives on rank 0 alone: its per-batch hook must not
    change which collectives the ranks run."""
    ok(mpirun(2, tmp_path, "--epochs", 2, "--checkpoint", "--checkpoint-every", 2))
    expected, _ = reference(worker, "sgd", 96, 32, 2)
    assert relative(rank_weights(tmp_path, 2, 2)[1], expected[1]) < 1e-10
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".striate"))


@pytest.mark.slow
def test_a_loss_that_is_not_finite_on_one_rank_stops_every_rank(tmp_path):
    result = ok(mpirun(2, tmp_path, "--epochs", 3, "--poison-at", 2))  # rank 1's weights: inf
    # rank 0 (whose loss is finite) stops too, and alone says so
    assert result.stdout.count("batch 3/3: the loss became infinite or NaN on 1 of 2") == 1
    assert not os.path.exists(tmp_path / "rank0-epoch1.npy")  # no epoch ended
    with open(tmp_path / "history-rank0.json") as file:
        assert json.load(file) == {}


@pytest.mark.slow
def test_batch_normalization_keeps_per_rank_statistics(tmp_path, worker):
    """Documented: BN normalises by each rank's share, so N ranks differ from one process,
    but the ranks still agree (moving statistics averaged at each epoch's end)."""
    ok(mpirun(2, tmp_path, "--model", "bn", "--epochs", 2))
    expected, _ = reference(worker, "sgd", 96, 32, 2, model="bn")
    for epoch, want in enumerate(expected, start=1):
        got = rank_weights(tmp_path, 2, epoch)
        assert np.array_equal(got[0], got[1])
        assert relative(got[0], want) > 1e-8  # per-rank statistics: not the one-process model


@pytest.mark.slow
def test_an_exception_on_rank_1_ends_the_job_with_its_message(tmp_path):
    began = time.monotonic()
    result = mpirun(2, tmp_path, "--epochs", 3, "--fail-at", 3, timeout=60)
    assert time.monotonic() - began < 30
    assert result.returncode != 0
    assert "planned failure on rank 1 at step 3" in result.stdout
    assert "rank 1 of 2" in result.stdout


@pytest.mark.slow
def test_a_job_killed_mid_epoch_resumes_from_its_checkpoint(tmp_path, worker):
    whole, killed, resumed = (tmp_path / name for name in ("whole", "killed", "resumed"))
    for folder in (whole, killed, resumed):
        folder.mkdir()
    common = ("--optimizer", "adam", "--epochs", 4, "--checkpoint")  # shuffled: the file
    # holds the generator's state
    ok(mpirun(2, whole, *common))
    # 3 steps an epoch: step 7 is epoch 3's first; rank 0 is killed there (SIGKILL)
    result = mpirun(2, killed, *common, "--die-at", 7)
    assert result.returncode != 0
    assert not os.path.exists(killed / "rank0-epoch3.npy")
    checkpoint = killed / "ckpt-2.striate"
    ok(mpirun(2, resumed, *common, "--resume", checkpoint, "--initial-epoch", 2))
    final = np.load(whole / "rank0-epoch4.npy")
    for r in range(2):
        assert relative(np.load(resumed / f"rank{r}-epoch4.npy"), final) < 1e-12
    # resumed as one process of batch 32, in float64: the same weights again
    backend.set_floatx("float64")
    net = striate.saving.load_model(str(checkpoint))
    x, y = worker.data(96)
    net.fit(x, y, batch_size=32, epochs=4, initial_epoch=2, verbose=0)
    assert relative(worker.packed(net), final) < 1e-10


@pytest.mark.slow
def test_each_rank_runs_its_share_of_the_cores(tmp_path):
    ok(mpirun(2, tmp_path))
    cores = striate.parallel._default_threads() if "STRIATE_NUM_THREADS" not in os.environ else 0
    with open(tmp_path / "info-rank1.json") as file:
        info = json.load(file)
    assert info["size"] == 2
    if cores:
        assert info["threads"] == max(1, cores // 2)
    ok(mpirun(2, tmp_path, env=mpi_env(STRIATE_NUM_THREADS="3")))
    with open(tmp_path / "info-rank1.json") as file:
        assert json.load(file)["threads"] == 3


@pytest.mark.slow
def test_cli_train_distributed_prints_once_and_saves_once(tmp_path):
    pytest.importorskip("sklearn")
    result = ok(
        mpirun(
            2,
            tmp_path,
            "train",
            "--dataset",
            "digits",
            "--distributed",
            "--epochs",
            2,
            "--seed",
            0,
            "--out",
            tmp_path / "m.striate",
            module="striate",
        )
    )
    assert result.stdout.count("Epoch 2/2") == 1
    assert result.stdout.count("Saved the model") == 1
    assert "Data parallel on 2 processes" in result.stdout
    assert os.listdir(tmp_path) == ["m.striate"]


def test_import_striate_never_imports_mpi4py():
    code = "import sys, striate; print('mpi4py' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert result.stdout.strip() == "False", result.stderr


def test_without_mpi4py_the_strategy_and_the_cli_say_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # `import mpi4py` raises ImportError
    with pytest.raises(ImportError, match=r"pip install 'striate\[mpi\]'"):
        striate.distribute.MPIStrategy()
    from striate.cli import main

    assert main(["train", "--dataset", "digits", "--distributed", "--epochs", "0"]) == 2
    error = capsys.readouterr().err
    assert "pip install 'striate[mpi]'" in error and "openmpi-bin" in error
    assert striate.distribute.active() is None


@pytest.mark.slow
def test_a_pydataset_is_read_in_shards_one_batch_per_rank_per_step(tmp_path, worker):
    """Rank r fetches batches r, r+2...: 2 ranks of PyDataset batches of 16 are the global
    batch of 32 of one process (unshuffled)."""
    args = ("--data", "pydataset", "--batch", 16, "--shuffle", 0, "--epochs", 2)
    ok(mpirun(2, tmp_path, *args))
    expected, history = reference(worker, "sgd", 96, 32, 2, shuffle=False)
    assert_equivalent(tmp_path, 2, expected, history)
    for rank in range(2):
        with open(tmp_path / f"info-rank{rank}.json") as file:
            assert json.load(file)["read"] == [rank, rank + 2, rank + 4] * 2


@pytest.mark.slow
def test_an_image_folder_is_read_in_shards(tmp_path):
    image = pytest.importorskip("PIL.Image")
    folder = tmp_path / "images"
    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (folder / label).mkdir(parents=True)
        for i in range(7):
            pixels = rng.integers(0, 255, (8, 8), dtype=np.uint8)
            image.fromarray(pixels).save(folder / label / f"{i}.png")
    out = tmp_path / "out"
    out.mkdir()
    ok(mpirun(2, out, "--data", folder, "--batch", 4, "--epochs", 2))
    reads = []
    for rank in range(2):
        with open(out / f"info-rank{rank}.json") as file:
            reads.append(json.load(file)["read"])
    assert set(reads[0]).isdisjoint(reads[1])
    assert len(set(reads[0]) | set(reads[1])) == 14  # each file on one rank only
    assert len(reads[0]) == 2 * 7 and len(reads[1]) == 2 * 7  # 2 epochs of its 7 files
    first, second = rank_weights(out, 2, 2)
    assert np.array_equal(first, second)


@pytest.mark.slow
def test_cli_train_processes_starts_mpirun_itself(tmp_path):
    require_mpi()
    command = [sys.executable, "-m", "striate", "train", "--dataset", "digits"]
    command += ["--processes", "2", "--epochs", "1", "--seed", "0", "--out", "m.striate"]
    result = subprocess.run(
        command,
        env=mpi_env(),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert "mpirun -n 2" in result.stdout and "--distributed" in result.stdout
    assert result.stdout.count("Epoch 1/1") == 1
    assert os.listdir(tmp_path) == ["m.striate"]
