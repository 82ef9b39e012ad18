"""Load a registered or saved model and forecast from the latest data."""
