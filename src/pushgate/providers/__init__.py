"""Provider clients: APNs, FCM HTTP v1, Web Push and WNS."""
