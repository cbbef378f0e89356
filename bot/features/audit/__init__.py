"""bot/features/audit."""
