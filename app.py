#!/usr/bin/env python3
"""Composition root: one Stage per config/<env>.yaml (see ml_platform/platform_app.py)."""

from ml_platform.platform_app import main

if __name__ == "__main__":
    main()
