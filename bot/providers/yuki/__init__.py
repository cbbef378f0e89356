"""bot/providers/yuki."""
