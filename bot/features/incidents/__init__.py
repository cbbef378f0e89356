"""Incidents: when a failing sync becomes an alert, and the one message that follows it to recovery."""
