"""Voila apps shipped with cvbench (copied from notebooks/apps)."""
