"""Tests of Ponto's package."""
