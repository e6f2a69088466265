"""Fixtures shared by every test package."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pushgate.simulators.tls import LocalCA


@pytest.fixture(scope="session")
def local_ca() -> Iterator[LocalCA]:
    """One throwaway CA for the whole run (key generation is the slow part)."""
    ca = LocalCA.create()
    yield ca
    ca.cleanup()
