"""JWT signing (ES256, RS256), RFC 8188/8291 encryption and VAPID."""
