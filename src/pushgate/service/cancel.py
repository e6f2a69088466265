"""Cancelling a send: for the API and the command line alike.

A cancel must end every delivery, not just stop new ones: the send is
marked cancelled (fan-out stops, and a delivery job claimed afterwards
records its devices as ``cancelled`` instead of sending), and the send's
delivery jobs that wait for a retry or a pause are brought forward, so
they record that now rather than when their retry comes due. ``pending``
then reaches zero within a few worker turns.
"""

from __future__ import annotations

import time

from pushgate.planner.jobs import deliver_queue
from pushgate.providers import PROVIDER_NAMES
from pushgate.queue import Queue
from pushgate.registry import Database, SendStatus, SendStatusView, cancel_send, get_send_status


def cancel_and_settle(
    db: Database, queue: Queue, send_id: str, *, app_id: int | None = None
) -> SendStatusView | None:
    """Cancel the send (if unfinished) and wake its waiting delivery jobs; its status, or None."""
    with db.session() as session:
        if cancel_send(session, send_id, app_id=app_id) is None:
            return None
        view = get_send_status(session, send_id)
    if view is not None and view.status == SendStatus.CANCELLED:
        now = time.time()
        for provider in PROVIDER_NAMES:
            for direct in (False, True):
                queue.reschedule(deliver_queue(provider, direct=direct), run_at=now, id_prefix=f"{send_id}:")
    return view


__all__ = ["cancel_and_settle"]
