"""Example app (run ``app.py``); a package only so that type checkers tell the examples' ``app`` modules apart."""
