"""``freeze_heap``: a started server's start-up objects leave the garbage collector's reach, and
its young generation is collected less often.

The CLI's ``pushgate serve`` and ``pushgate worker`` start with it (why:
:func:`pushgate.service.runtime.freeze_startup_heap`); embedding
applications and the other tests do not.
"""

from __future__ import annotations

import asyncio
import gc
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pushgate.server import create_app
from pushgate.service.runtime import SERVICE_GC_THRESHOLDS, serve
from pushgate.service.settings import Settings


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
    freeze: bool, unfrozen: None, database_file: Path
) -> None:
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
