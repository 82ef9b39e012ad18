"""Market data: sources, cache, validation, features and windows."""
