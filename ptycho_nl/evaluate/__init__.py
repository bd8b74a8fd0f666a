"""Evaluation: alignment to the truth, image metrics, paired statistics."""
