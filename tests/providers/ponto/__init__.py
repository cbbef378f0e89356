"""tests/providers/ponto."""
