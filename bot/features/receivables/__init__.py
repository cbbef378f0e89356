"""Overdue receivables behind /overdue."""
