"""Clients for Ponto and Yuki, written like libraries: no storage, no Slack."""
