"""Starts the processing engine's drift job for the hour before each scheduled run."""
