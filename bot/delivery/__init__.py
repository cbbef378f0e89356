"""Everything the worker sends to Slack: the outbox, per-workspace clients, pacing and retries."""
