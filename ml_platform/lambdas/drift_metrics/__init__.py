"""Puts the metrics of completed drift jobs to CloudWatch, as Model Monitor publishes its own."""
