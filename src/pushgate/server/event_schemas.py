"""Request and response bodies of event mode: ``/v1/events`` and ``/v1/messages`` (docs/events.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from pushgate.notification import Priority


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- events -------------------------------------------------------------------------------


class EventsIn(_In):
    """A batch of events; each is checked on its own (a bad one is a rejection, not a 422)."""

    events: list[dict[str, Any]] = Field(
        min_length=1, max_length=10_000,
        description="Each: `user_id` (string or integer), `event_id` (integer), `timestamp` "
                    "(ISO 8601 with a zone, or Unix epoch milliseconds), `params` (string values)",
    )


class EventRejectionOut(BaseModel):
    index: int = Field(description="The event's position in the batch (from 0)")
    reason: str


class EventsAccepted(BaseModel):
    id: str | None = Field(description="The stored batch (GET /v1/events/{id}); null when none was accepted")
    accepted: int
    rejected: list[EventRejectionOut]


class EventBatchOut(BaseModel):
    id: str
    status: str = Field(description="queued, then done once the worker decided every event")
    events: int
    outcome: dict[str, Any] | None = Field(
        description="counts by decision (notified, cooldown, opted_out, render_failed, …), the ids of the "
                    "sends made, errors of predefined events, and render_failures: why texts could not "
                    "be rendered, by message and reason (docs/events.md §4)")
    created_at: datetime
    finished_at: datetime | None


class EventSettingsIn(_In):
    default_language: str | None = Field(None, description="Used when the user's language has no text")
    deep_link_base: str | None = Field(None, description="A message's relative screen is joined to it")
    login_event_id: int | None = Field(None, ge=1)
    optout_event_id: int | None = Field(None, ge=1)
    frequency_cap: int | None = Field(None, ge=1, description="Notifications per user per window")
    frequency_window: int | None = Field(None, ge=1, description="Seconds")
    quiet_start: str | None = Field(None, description="HH:MM in the user's time zone")
    quiet_end: str | None = Field(None, description="HH:MM in the user's time zone")


# --- messages -------------------------------------------------------------------------------


class LocalizationIn(_In):
    title: str = Field("", max_length=4000, description="Template: {param}, {{ and }} for braces")
    body: str = Field("", max_length=4000, description="Template: {param}, {{ and }} for braces")


class MessageIn(_In):
    events: list[int] = Field(min_length=1, description="Event ids that trigger it (not 4000-4999)")
    cooldown: int = Field(0, ge=0, description="Seconds before the same user can get it again")
    expiry: int | None = Field(None, ge=1, description="Seconds after the event's timestamp it may still go")
    screen: str | None = Field(None, max_length=500, description="Deep link; relative: joined to the base")
    priority: Priority | None = None
    quiet_hours: str = Field("deliver", description="deliver, hold (until the window ends) or drop")
    extras: dict[str, Any] = Field(default_factory=dict,
                                   description="More notification fields: sound, badge, data, apns, fcm, …")
    localizations: dict[str, LocalizationIn] | None = Field(
        None, description="Language → title and body; replaces the set when given")


class MessageOut(BaseModel):
    name: str
    events: list[int]
    cooldown: int
    expiry: int | None
    screen: str | None
    priority: str | None
    quiet_hours: str
    extras: dict[str, Any]
    localizations: dict[str, LocalizationIn]


class PreviewIn(_In):
    user_id: str | None = Field(None, description="Render in this user's language")
    locale: str | None = Field(None, description="Or in this locale (e.g. fr-CA)")
    params: dict[str, str] = Field(default_factory=dict)


class ProviderPreviewOut(BaseModel):
    provider: str
    fits: bool
    size: int | None = Field(description="Bytes of the payload the provider's limit counts")
    limit: int | None
    payload: Any
    error: str | None


class PreviewOut(BaseModel):
    language: str
    title: str
    body: str
    url: str | None
    providers: list[ProviderPreviewOut]


class MessageOptOutsIn(_In):
    messages: list[str] = Field(max_length=1000, description="Message names the user does not want")


class MessageOptOutsOut(BaseModel):
    messages: list[str]
