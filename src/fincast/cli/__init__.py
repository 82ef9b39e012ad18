"""Hydra entry points: wiring only; the only code that sees a DictConfig."""
