"""Glue job scripts shipped as assets, one folder per job (the script and its plain-Python logic)."""
