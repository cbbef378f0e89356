"""tests/providers/yuki."""
