"""Fixtures for ingest tests."""

import pytest

from tests.data.ingest_corpus import Hostile, build_hostile


@pytest.fixture(scope="session")
def hostile(tmp_path_factory) -> Hostile:
    """Built once per session: the 50 MB file takes a moment to write."""
    return build_hostile(tmp_path_factory.mktemp("hostile"))
