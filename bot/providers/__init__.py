"""Providers: the plugin base and ports, the registry of installed ones, one package per provider."""
