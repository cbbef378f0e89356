"""Use cases: what cashbot does, independent of Slack and of how it is rendered."""
