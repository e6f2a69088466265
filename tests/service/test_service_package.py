"""``pushgate.service`` re-exports its public names, importing each module only when asked."""

from __future__ import annotations

import subprocess
import sys

import pytest

import pushgate.service


@pytest.mark.parametrize("name", pushgate.service.__all__)
def test_every_public_name_resolves(name: str) -> None:
    value = getattr(pushgate.service, name)
    assert getattr(sys.modules[pushgate.service._LAZY[name]], name) is value


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'create_app'"):
        _ = pushgate.service.create_app  # the HTTP app is pushgate.server's


def test_settings_alone_do_not_load_the_service() -> None:
    # The registry and the workers import the settings; that must not start a cycle back into them.
    server_side = ("pushgate.service", "pushgate.registry", "pushgate.queue", "pushgate.planner",
                   "pushgate.workers", "pushgate.server", "sqlalchemy", "uvicorn", "fastapi")
    code = ("import sys; import pushgate.service.settings; "
            f"print(sorted(m for m in sys.modules if m.startswith({server_side!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          check=True)
    assert done.stdout.strip() == "['pushgate.service', 'pushgate.service.settings']"
