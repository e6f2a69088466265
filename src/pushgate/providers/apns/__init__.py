"""The apns provider."""
