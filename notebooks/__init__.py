"""The teaching notebooks (01_ to 04_), shipped in the wheel as ``cvbench._notebooks`` for
``cvbench lab``."""
