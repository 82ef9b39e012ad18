"""Honest evaluation: baselines, metrics and held-out scoring."""
