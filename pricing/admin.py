"""Admin registrations for pricing."""
