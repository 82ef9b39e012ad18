"""Training: compile, fit with early stopping, save self-contained models, record the run."""
