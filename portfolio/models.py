"""portfolio models."""
