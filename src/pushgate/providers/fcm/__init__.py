"""The fcm provider."""
