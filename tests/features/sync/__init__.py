"""Tests of the sync runner."""
