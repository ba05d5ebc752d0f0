"""pricing models."""
