"""One intra-op thread for the GeoD tests (the ``one_thread`` fixture of ``tests/conftest.py``)."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every test here runs with ``one_thread``."""
