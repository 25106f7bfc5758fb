"""phicalc package."""
