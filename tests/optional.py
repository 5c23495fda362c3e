"""Optional packages of the interop tests: skipped with the install line when absent, but a
failure under CI=true (CI installs them through `.[test]`, so there they must run)."""

import importlib
import os

import pytest


def require(module, install):
    try:
        return importlib.import_module(module)
    except ImportError:
        message = f"{module} is not installed: pip install {install}"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI=true: this test must run)", pytrace=False)
        pytest.skip(message, allow_module_level=True)
