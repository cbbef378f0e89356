"""bot/features/receivables."""
