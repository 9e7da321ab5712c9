"""cvbench's widgets for JupyterLab and Voila. Each calls the :class:`~cvbench.Project` API.

    from cvbench.ui import Gallery, Tagger, BoxEditor, Uploader
    Gallery(project)       # paged thumbnails: filter, select, tag, delete
    Tagger(project)        # one image at a time, tagged from the keyboard
    BoxEditor(project)     # draw, move, resize and tag boxes (detection)
    Uploader(project)      # drop files, folders or URLs, with tags and a results table
"""

from ._base import ImageFilter, ProjectWidget
from .box_editor import BoxEditor, SuggestFn
from .gallery import Gallery
from .tagger import Tagger
from .uploader import Uploader

__all__ = [
    "Gallery",
    "Tagger",
    "BoxEditor",
    "Uploader",
    "ProjectWidget",
    "ImageFilter",
    "SuggestFn",
]
