"""Tests of connect links and housekeeping."""
