"""Unit tests for the sans-IO service protocol codec."""
