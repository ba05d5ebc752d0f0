"""Admin registrations for realtime."""
