"""Admin registrations for portfolio."""
