"""The webpush provider."""
