"""The simulator classes by provider name, imported on demand."""

from __future__ import annotations

import importlib

from pushgate.simulators._base import Simulator

SIMULATORS: dict[str, tuple[str, str]] = {
    "apns": ("pushgate.simulators.apns", "APNsSimulator"),
    "fcm": ("pushgate.simulators.fcm", "FCMSimulator"),
    "webpush": ("pushgate.simulators.webpush", "WebPushSimulator"),
    "wns": ("pushgate.simulators.wns", "WNSSimulator"),
}


def simulator_class(provider: str) -> type[Simulator]:
    """The simulator class for ``provider`` (one of :data:`SIMULATORS`)."""
    try:
        module_name, class_name = SIMULATORS[provider]
    except KeyError:
        raise ValueError(f"unknown provider {provider!r}; choose from {', '.join(SIMULATORS)}") from None
    cls: type[Simulator] = getattr(importlib.import_module(module_name), class_name)
    return cls
