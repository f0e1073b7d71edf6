"""Stacks that compose the platform's constructs for one environment, and the Stage."""
