"""bot/features/sync."""
