"""bot/features/access."""
