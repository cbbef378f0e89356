"""The App Home tab: what a member sees when they open cashbot in Slack."""
