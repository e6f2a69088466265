"""Sender workers: claim delivery jobs, send through the apps' provider clients, record outcomes.

- :mod:`~pushgate.workers.sender`: the claim loop (:class:`Worker`);
- :mod:`~pushgate.workers.tiers`: the queues it claims, tier by tier, and which slots each may take;
- :mod:`~pushgate.workers.delivery`: one delivery job, its requests and outcomes;
- :mod:`~pushgate.workers.settling`: how a job ends: follow-ups, retries, pauses, refusals of one device;
- :mod:`~pushgate.workers.clients`: one long-lived provider client per app and provider;
- :mod:`~pushgate.workers.recorder`: outcomes written in bulk;
- :mod:`~pushgate.workers.pausebook`: which apps' providers are paused;
- :mod:`~pushgate.workers.pool`: the workers of a process and what they share;
"""

from pushgate.workers.clients import ClientBuildError, ClientCache, NoCredentials, build_client
from pushgate.workers.delivery import DeliveryJob, delivery_id
from pushgate.workers.pool import WorkerPool
from pushgate.workers.recorder import OutcomeRecorder
from pushgate.workers.sender import Worker

__all__ = [
    "ClientBuildError",
    "ClientCache",
    "DeliveryJob",
    "NoCredentials",
    "OutcomeRecorder",
    "Worker",
    "WorkerPool",
    "build_client",
    "delivery_id",
]
