"""``freeze_heap``: a started server's start-up objects leave the garbage collector's reach, and
its young generation is collected less often, and the provider clients are imported before.

The CLI's ``pushgate serve`` and ``pushgate worker`` start with it (why:
:func:`pushgate.service.runtime.freeze_startup_heap`); embedding
applications and the other tests do not.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import shutil
import types
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pushgate.registry.constants import PROVIDERS
from pushgate.server import create_app
from pushgate.service import runtime
from pushgate.service.runtime import SERVICE_GC_THRESHOLDS, serve
from pushgate.service.settings import Settings
from pushgate.transport import huffman


@pytest.fixture
def unfrozen() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()  # the rest of the test run collects as usual
    gc.set_threshold(*thresholds)


@pytest.fixture
def database_file(sqlite_migrated: Path, tmp_path: Path) -> Path:
    path = tmp_path / "pushgate.db"
    shutil.copyfile(sqlite_migrated, path)
    return path


@pytest.mark.parametrize("freeze", [True, False])
async def test_a_started_server_freezes_its_start_up_heap_only_when_asked(
    freeze: bool, unfrozen: None, database_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    prepared: list[bool] = []
    monkeypatch.setattr(runtime, "prepare_senders", lambda: prepared.append(True))
    path = database_file
    settings = Settings.model_validate({"database_url": f"sqlite:///{path}", "host": "127.0.0.1", "port": 0,
                                        "workers": 1, "admin_token": "heap-admin-token-0123456789abcdef"})
    stop = asyncio.Event()
    listening: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve(settings, create_app, handle_signals=False, stop=stop,
                                     on_listening=listening.set_result, freeze_heap=freeze))
    either: set[asyncio.Future[Any]] = {task, listening}
    await asyncio.wait(either, timeout=60, return_when=asyncio.FIRST_COMPLETED)
    assert listening.done(), "the server did not start listening"
    frozen, thresholds = gc.get_freeze_count(), gc.get_threshold()
    stop.set()
    await asyncio.wait_for(task, 60)
    assert (frozen > 0) is freeze
    assert (thresholds == SERVICE_GC_THRESHOLDS) is freeze
    assert not prepared  # serve keeps the provider clients for its first job: an idle server stays small


@pytest.mark.parametrize("freeze", [True, False])
async def test_a_worker_process_imports_its_senders_before_freezing_only_when_asked(
    freeze: bool, unfrozen: None, database_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    order: list[str] = []
    monkeypatch.setattr(runtime, "prepare_senders", lambda: order.append("prepare"))
    monkeypatch.setattr(runtime, "freeze_startup_heap", lambda: order.append("freeze"))
    settings = Settings.model_validate({"database_url": f"sqlite:///{database_file}"})
    stop = asyncio.Event()
    stop.set()  # start-up runs in full, then the process stops at once
    started = runtime.run_workers(settings, handle_signals=False, stop=stop, freeze_heap=freeze)
    await asyncio.wait_for(started, 60)
    assert order == (["prepare", "freeze"] if freeze else [])


def test_prepare_senders_imports_every_provider_client_and_builds_the_huffman_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    imported: list[str] = []

    def import_module(name: str) -> Any:
        imported.append(name)
        return importlib.import_module(name)

    monkeypatch.setattr(runtime, "importlib", types.SimpleNamespace(import_module=import_module))
    for table in ("_next", "_symbols", "_accepting"):  # as in a process that decoded nothing yet
        monkeypatch.setattr(huffman, table, [])
    runtime.prepare_senders()
    assert imported == [f"pushgate.providers.{p.value}.client" for p in PROVIDERS]
    assert huffman._next
    assert huffman.huffman_decode(bytes.fromhex("f1e3c2e5f23a6ba0ab90f4ff")) == b"www.example.com"


def test_start_up_garbage_is_freed_before_the_heap_is_frozen(unfrozen: None) -> None:
    # A cycle start-up dropped but the collector had not reached yet: frozen, it would stay for
    # the life of the process (frozen objects are never collected).
    class Node:
        peer: object = None

    gc.disable()
    try:
        dropped = Node()
        dropped.peer = dropped
        still_there = weakref.ref(dropped)
        del dropped
        runtime.freeze_startup_heap()
        assert still_there() is None
    finally:
        gc.enable()
