"""Admin registrations for trading."""
