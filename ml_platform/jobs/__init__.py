"""Runtime code the platform ships as assets, other than Lambda functions: Glue job scripts
(``glue``), training pipeline step scripts (``training_pipeline``) and the Ground Truth task UI
(``labeling_ui``)."""
