"""hyperopt package."""
