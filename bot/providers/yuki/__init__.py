"""Yuki (books): client library, settings, call budget, connect form, sync, plugin, wiring."""
