"""The one composition root: the Runtime container, web routes and lifespan, the worker, the CLI."""
