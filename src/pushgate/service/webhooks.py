"""Checking a webhook URL before it is stored: the SSRF rules, answered as a 422 naming ``url``."""

from __future__ import annotations

from pushgate.registry import ValidationError
from pushgate.service.settings import Settings
from pushgate.service.webhook_guard import AddressPolicy, Resolver, UnsafeURL, system_resolver


async def check_webhook_url(url: str, settings: Settings, resolver: Resolver = system_resolver) -> str:
    """``url`` when the SSRF rules (docs/webhooks.md §6) let workers post to it; else ValidationError."""
    try:
        return await AddressPolicy.from_entries(settings.webhook_allow_hosts).check_url(url.strip(), resolver)
    except UnsafeURL as exc:
        raise ValidationError("url", str(exc)) from None


__all__ = ["check_webhook_url"]
