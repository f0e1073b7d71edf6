"""Scripts the training pipeline's processing steps run (shipped as assets, standard library only)."""
