"""Builders from the provider-neutral Notification to each provider's wire payload."""
