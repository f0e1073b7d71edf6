"""Ground Truth pre-annotation: one manifest line becomes the input of one image classification task."""
