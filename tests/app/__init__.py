"""Tests of the composition root, processes and worker."""
