"""Deprecated (one release): moved to `deformviz.networks.bundled`; the bundled detector is a
`deformviz.networks.Network` like any other (`deformviz.networks.load_network`)."""

from deformviz.networks.bundled import (DenseCapture, RoICapture, bundled_aliases,  # noqa: F401
                                        capture_dense, capture_rois)

__all__ = ["DenseCapture", "RoICapture", "capture_dense", "capture_rois", "bundled_aliases"]
