"""tests/demo."""
