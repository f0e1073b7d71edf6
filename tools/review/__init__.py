"""Offline review of an environment's synthesized templates (``python -m tools.review``)."""
