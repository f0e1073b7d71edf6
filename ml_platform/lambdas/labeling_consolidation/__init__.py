"""Ground Truth annotation consolidation: one label per image by majority vote, with a confidence."""
