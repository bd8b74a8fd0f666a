"""ptycho-nl: physics-informed and nested-learning ptychography in PyTorch."""

__version__ = "0.1.0"
