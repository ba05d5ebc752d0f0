"""realtime models."""
