"""deformviz: see what a deformable convolutional network learned."""

__version__ = "0.1.0"
