"""Ponto (banks): client library, settings, tokens, consent, sync, plugin, wiring (nothing loads here)."""
