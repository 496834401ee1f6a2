"""Local emulators of provider APIs (Gmail, Microsoft Graph) for the tests, on 127.0.0.1."""
