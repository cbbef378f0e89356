"""What the worker sends to Slack, from the outbox (storage.outbox): clients, pacing, retries, refusals."""
