"""Starts a model's training pipeline when Model Monitor finds violations, one run at a time and not too often."""
