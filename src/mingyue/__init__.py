"""mingyue: the Mingyue Lake π enabling platforms."""

__version__ = "0.1.0"
