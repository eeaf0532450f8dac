"""Helpers for the Deep Learning Track: checks, the mistake catalog, gradients, plots, grading."""
