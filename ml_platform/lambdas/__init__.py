"""Runtime code shipped as Lambda assets, one folder per function (handler.py and its logic)."""
