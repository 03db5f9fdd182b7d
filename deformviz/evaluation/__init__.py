"""Measuring the bundled network on held-out generated scenes: detection quality, the paper's
Table 2 (effective dilation by object size), and what deformable RoI pooling does."""

from .report import evaluate, EvaluationConfig

__all__ = ["evaluate", "EvaluationConfig"]
