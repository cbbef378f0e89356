"""`cashbot demo`: the whole bot against the built-in simulators; `run` drives the steps."""
