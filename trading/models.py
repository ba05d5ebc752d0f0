"""trading models."""
