"""Experiment tracking and the model registry (MLflow), behind one package."""
