"""Closes an endpoint's feedback loop hourly: labels become Model Monitor ground truth and labeled training rows."""
