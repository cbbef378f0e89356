"""Simulators of Slack, Ponto and Yuki: real HTTP servers on loopback, for tests and the demo."""
