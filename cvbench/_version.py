"""cvbench's version (a leaf: imports nothing)."""

__version__ = "0.1.0"
