"""The drift job: Model Monitor's data-quality baseline and baseline drift check, run as a SageMaker
processing job in the scikit-learn image (``drift.py``, numpy and the standard library only)."""
