"""Restate-compatible durable execution runtime; the SDK lives in restate.sdk."""
