"""Protocol-faithful local stand-ins for APNs, FCM, Web Push services and WNS."""
