"""Custom Vision's REST API over cvbench projects (``cvbench serve``)."""
