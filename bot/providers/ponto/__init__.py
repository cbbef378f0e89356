"""bot/providers/ponto."""
