"""Fixtures for the ``graphlearn.data`` tests: a package-wide cache so no test writes ``./.cache`` in the checkout."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="package", autouse=True)
def data_cache(tmp_path_factory) -> Path:
    """``$GRAPHLEARN_CACHE`` for these tests (processed files of read-only roots land here), undone afterwards."""
    cache = tmp_path_factory.mktemp("graphlearn-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRAPHLEARN_CACHE", str(cache))
        yield cache
