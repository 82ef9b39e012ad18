"""Honest evaluation: baselines, metrics, held-out scoring and walk-forward backtests."""
