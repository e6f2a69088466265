"""The package's public face: one version, and the names the README imports from ``pushgate``."""

from __future__ import annotations

import importlib.metadata

import pushgate


def test_version_comes_from_the_installed_metadata() -> None:
    assert pushgate.__version__ == importlib.metadata.version("pushgate")


def test_every_public_name_resolves() -> None:
    for name in pushgate.__all__:
        assert getattr(pushgate, name) is not None, name


def test_blocking_is_exported_at_the_top() -> None:
    from pushgate import Blocking
    from pushgate.blocking import Blocking as Direct

    assert Blocking is Direct
