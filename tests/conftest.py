import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def require_real_data(path=FASHION_DIR):
    """Skip with a reason when the data is absent, but fail under CI=true (CI must run it)."""
    if os.path.isdir(path) and os.listdir(path):
        return
    message = f"{path} is missing: apt-get install -y dataset-fashion-mnist"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI=true: this test must run)")
    pytest.skip(message)


def _with_crossentropy_rule(rule):
    from striate import backend

    previous = backend.crossentropy_rule()
    backend.set_crossentropy(rule)
    try:
        yield rule
    finally:
        backend.set_crossentropy(previous)


@pytest.fixture
def keras3_crossentropy():
    """Keras 3's clipped cross-entropy rule for one test (`striate.backend.set_crossentropy`):
    for parity with Keras 3 where its clip can bite."""
    yield from _with_crossentropy_rule("keras3")


@pytest.fixture(params=["logits", "keras3"])
def crossentropy_rule(request):
    """Each cross-entropy rule in turn, for one test; the rule's name."""
    yield from _with_crossentropy_rule(request.param)


def _only_slow_tests(path):
    """True for a test file whose every test is slow (`pytestmark = pytest.mark.slow`)."""
    try:
        with open(path, encoding="utf-8") as handle:
            return any(line.startswith("pytestmark = pytest.mark.slow") for line in handle)
    except OSError:
        return False


def pytest_ignore_collect(collection_path, config):
    """In the quick tier (`-m "not slow"`), do not even import the files that hold slow tests
    only: importing them (Keras, PyTorch, ONNX...) took longer than running many tests."""
    if config.getoption("markexpr", "") != "not slow":
        return None
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return True if _only_slow_tests(collection_path) else None
    return None
