"""bot/features/connect."""
