"""A notebook-first, reproducible study of adversarial robustness in PyTorch"""

__version__ = "0.0.1"
