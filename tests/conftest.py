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
