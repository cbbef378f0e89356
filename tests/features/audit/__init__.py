"""tests/features/audit."""
