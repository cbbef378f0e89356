"""The weekly cash-flow digest: its schedule, its figures, its chart and the job that sends it."""
