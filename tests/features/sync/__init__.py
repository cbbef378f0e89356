"""tests/features/sync."""
