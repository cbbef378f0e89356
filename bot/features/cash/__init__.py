"""bot/features/cash."""
