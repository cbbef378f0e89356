"""The cash position behind /cash."""
