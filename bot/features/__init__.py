"""Use cases by feature (bot/services moves here); features know nothing of Slack or Jinja."""
