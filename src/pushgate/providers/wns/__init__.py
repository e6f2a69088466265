"""The wns provider."""
