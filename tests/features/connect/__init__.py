"""tests/features/connect."""
