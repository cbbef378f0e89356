"""The audit trail and its group commit."""
