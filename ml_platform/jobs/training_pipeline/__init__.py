"""Scripts the training pipeline's processing steps run (shipped as assets; they import only what the
scikit-learn processing image has, or what the step ships to them)."""
