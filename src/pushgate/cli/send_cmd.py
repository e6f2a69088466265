"""``pushgate send``: what ``POST /v1/sends`` takes, from the command line.

It stores the send (and its fan-out job) in the database as the API does;
sender workers (``pushgate serve`` or ``pushgate worker``) deliver it.
``--wait`` follows the send with a live bar of sent, failed and dead
deliveries out of the total targeted.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from pushgate.cli.server_cmds import ConfigOption, load_settings
from pushgate.cli.words import count
from pushgate.errors import PushgateError

if TYPE_CHECKING:
    from pushgate.registry import Database

FINISHED = ("done", "cancelled")
QUIET_HINT_AFTER = 10.0  # seconds without any outcome before asking whether workers run

def send(
    app: Annotated[str, typer.Option("--app", "-a", help="The app's id or name")],
    title: Annotated[str | None, typer.Option(help="Notification title")] = None,
    body: Annotated[str | None, typer.Option(help="Notification text")] = None,
    data: Annotated[str | None, typer.Option(help="Custom data, a JSON object")] = None,
    badge: Annotated[int | None, typer.Option(help="Badge number (FCM: notification count)")] = None,
    url: Annotated[str | None, typer.Option(help="Click URL or deep link")] = None,
    token: Annotated[
        list[str] | None, typer.Option("--token", "-t", help="A device token (repeatable)")
    ] = None,
    user: Annotated[list[str] | None, typer.Option("--user", "-u", help="A user id (repeatable)")] = None,
    all_devices: Annotated[bool, typer.Option("--all", help="Every active device of the app")] = False,
    topic: Annotated[str | None, typer.Option(help="An FCM topic: one request, FCM fans it out")] = None,
    condition: Annotated[
        str | None, typer.Option(help="An FCM topic condition, e.g. \"'a' in topics && 'b' in topics\"")
    ] = None,
    provider: Annotated[list[str] | None, typer.Option("--provider", "-p", help="Only this provider")] = None,
    platform: Annotated[list[str] | None, typer.Option("--platform", help="Only this platform")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Only devices with this tag")] = None,
    send_at: Annotated[
        datetime | None,
        typer.Option(help="Deliver at this time (ISO 8601, e.g. 2030-01-01T09:00:00Z)",
                     formats=["%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]),
    ] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="Send at most once per key")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Follow the send until it is done")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most")] = 300.0,
    config: ConfigOption = None,
) -> None:
    """Send a notification to tokens, users, everyone or an FCM topic, as POST /v1/sends does."""
    from datetime import UTC

    from pushgate.cli.admin import _app, _database, _fail
    from pushgate.errors import Backpressure
    from pushgate.notification import Notification
    from pushgate.registry import IdempotencyConflict, ValidationError
    from pushgate.service.components import open_queue
    from pushgate.service.submit import submit_send

    audiences = [name for name, given in (("tokens", token), ("users", user), ("all", all_devices),
                                          ("topic", topic), ("condition", condition)) if given]
    if len(audiences) != 1:
        raise _fail("give exactly one of --token, --user, --all, --topic or --condition", 2)
    target: dict[str, Any] = (
        {"tokens": token} if token else {"users": user} if user else {"topic": topic} if topic
        else {"condition": condition} if condition else {"all": True}
    )
    for key, values in (("providers", provider), ("platforms", platform), ("tags", tag)):
        if values:
            target[key] = values
    try:
        notification = Notification(title=title, body=body, badge=badge, url=url,
                                    data=json.loads(data) if data else None)
    except ValueError as exc:
        raise _fail(f"invalid notification: {exc}", 2) from None
    if send_at is not None and send_at.tzinfo is None:
        send_at = send_at.replace(tzinfo=UTC)  # a time without a zone is UTC, as in the API
    settings = load_settings(config)
    with _database(settings) as db:
        target_app = _app(db, app)
        try:
            submission = submit_send(db, open_queue(settings, db), settings, target_app.id, notification,
                                     target, send_at=send_at, idempotency_key=idempotency_key)
        except ValidationError as exc:
            if exc.field == "send_at":  # the API's field is this command's --send-at
                raise _fail(f"--send-at: {exc.message.replace('send_at', '--send-at')}") from None
            raise _fail(f"{exc.field}: {exc.message}") from None
        except Backpressure as exc:
            raise _fail(f"{exc}", 3) from None
        except (IdempotencyConflict, PushgateError) as exc:
            raise _fail(str(exc)) from None
        answer = submission.response
        replayed = " (already sent with this idempotency key)" if submission.replayed else ""
        # A send_at a few seconds gone is sent now: its answer counts the devices it targeted.
        scheduled = f", scheduled for {send_at.isoformat()}" if answer["targeted"] is None and send_at else ""
        targeted = count(answer["targeted"], "device")
        typer.echo(f"send {answer['id']}: {targeted} targeted{scheduled}{replayed}")
        if answer["targeted"] == 0 and not (topic or condition):  # FCM counts a topic's devices itself
            typer.secho(_NO_DEVICE_HINT, err=True, fg=typer.colors.YELLOW)
        if wait:
            follow(db, answer["id"], timeout)


_NO_DEVICE_HINT = (
    "no active device of the app matches this target: --token and --user name registered devices "
    "(POST /v1/devices, `pushgate devices import`); GET /v1/devices lists them"
)


def follow(db: Database, send_id: str, timeout: float) -> None:
    """A live bar of the send's outcomes until it finishes (or ``timeout``), then its counters."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    from pushgate.cli.admin import _fail
    from pushgate.registry import get_send_status

    console = Console()
    started = time.monotonic()
    hinted = False
    columns = (TextColumn("sent {task.fields[sent]}  failed {task.fields[failed]}  dead {task.fields[dead]}"),
               BarColumn(), TextColumn("{task.completed}/{task.total} total"))
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("send", total=None, sent=0, failed=0, dead=0)
        while True:
            with db.session(write=False) as session:
                view = get_send_status(session, send_id)
            assert view is not None
            finished = view.sent + view.failed + view.dead + view.expired + view.cancelled
            progress.update(task, total=view.targeted, completed=finished, sent=view.sent,
                            failed=view.failed, dead=view.dead)
            if view.status in FINISHED or time.monotonic() - started >= timeout:
                break
            if not hinted and not finished and time.monotonic() - started >= QUIET_HINT_AFTER:
                # Only when nothing moves: with workers running the hint would be noise.
                hinted = True
                progress.console.print("[dim]nothing delivered yet: are sender workers running "
                                       "(`pushgate serve` or `pushgate worker`)?[/dim]")
            time.sleep(0.5)
    console.print(f"send {send_id}: {view.status}; sent {view.sent}, failed {view.failed}, dead {view.dead}, "
                  f"expired {view.expired}, cancelled {view.cancelled}, pending {view.pending}, "
                  f"total {view.targeted}")
    if view.status not in FINISHED:
        raise _fail(f"not finished after {timeout:g} s", 4)
