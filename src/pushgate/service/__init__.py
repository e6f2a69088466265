"""The service: what the HTTP API, the sender workers and the command line all call.

- :mod:`~pushgate.service.settings`: typed settings from a TOML file and ``PUSHGATE_*``;
- :mod:`~pushgate.service.components`: the database, queue and validation policy built from them;
- :mod:`~pushgate.service.submit`: accepting a send (validate, backpressure, store with its job);
- :mod:`~pushgate.service.runtime`: ``pushgate serve`` and ``pushgate worker``;
- :mod:`~pushgate.service.metrics`: the Prometheus metrics of a process.

It needs the ``[server]`` extra and never imports :mod:`pushgate.server`
(the HTTP surface): ``serve`` is handed the function that builds the HTTP app.

Names are imported on first use: the registry and the workers import
:mod:`pushgate.service.settings`, and this package must not pull the whole
service (SQLAlchemy, the queue, uvicorn) in with it — nor import them back
while they are half-initialised.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pushgate._lazy import lazy_getattr

if TYPE_CHECKING:
    from pushgate.service.components import (
        Services,
        open_database,
        open_queue,
        schema_head,
        validation_policy,
    )
    from pushgate.service.metrics import Metrics
    from pushgate.service.runtime import (
        LISTENING_PREFIX,
        METRICS_PREFIX,
        AppFactory,
        configure_logging,
        run_workers,
        serve,
        warn_if_credentials_unencrypted,
    )
    from pushgate.service.settings import ProviderEndpoint, Settings
    from pushgate.service.submit import Accepted, Submission, submit_send

_LAZY = {
    "Accepted": "pushgate.service.submit",
    "AppFactory": "pushgate.service.runtime",
    "LISTENING_PREFIX": "pushgate.service.runtime",
    "METRICS_PREFIX": "pushgate.service.runtime",
    "Metrics": "pushgate.service.metrics",
    "ProviderEndpoint": "pushgate.service.settings",
    "Services": "pushgate.service.components",
    "Settings": "pushgate.service.settings",
    "Submission": "pushgate.service.submit",
    "configure_logging": "pushgate.service.runtime",
    "open_database": "pushgate.service.components",
    "open_queue": "pushgate.service.components",
    "run_workers": "pushgate.service.runtime",
    "schema_head": "pushgate.service.components",
    "serve": "pushgate.service.runtime",
    "submit_send": "pushgate.service.submit",
    "validation_policy": "pushgate.service.components",
    "warn_if_credentials_unencrypted": "pushgate.service.runtime",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = [
    "LISTENING_PREFIX",
    "METRICS_PREFIX",
    "Accepted",
    "AppFactory",
    "Metrics",
    "ProviderEndpoint",
    "Services",
    "Settings",
    "Submission",
    "configure_logging",
    "open_database",
    "open_queue",
    "run_workers",
    "schema_head",
    "serve",
    "submit_send",
    "validation_policy",
    "warn_if_credentials_unencrypted",
]
