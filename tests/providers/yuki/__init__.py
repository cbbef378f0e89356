"""Tests of Yuki's package."""
