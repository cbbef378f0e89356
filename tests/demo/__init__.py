"""Tests of `cashbot demo`."""
