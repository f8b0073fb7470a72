"""The benchmark scripts under test, loaded as modules from benchmarks/ (not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    """benchmarks/<name>.py as a module, with benchmarks/ on the path for its own imports meanwhile."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def shift_study():
    yield from _load("shift_study")


@pytest.fixture(scope="module")
def scale_study():
    yield from _load("scale_study")
