"""Thin Bolt listeners and web endpoints: ack, parse, call a service, render, respond."""
