"""Connecting a provider: the one-time links handed out in Slack."""
