"""cvbench's widgets for JupyterLab and Voila. Each calls the :class:`~cvbench.Project` API.

    from cvbench.ui import Gallery, Tagger, BoxEditor, Uploader
    Gallery(project)       # paged thumbnails: filter, select, tag, delete
    Tagger(project)        # one image at a time, tagged from the keyboard
    BoxEditor(project)     # draw, move, resize and tag boxes (detection)
    Uploader(project)      # drop files, folders or URLs, with tags and a results table
    TrainPanel(project)    # Quick / Advanced training in the background, the iterations
    Performance(project)   # precision, recall, mAP with live thresholds; PR curves; mistakes
    Insight(project)       # dataset health, the embedding map, two iterations compared
    QuickTest(project)     # predict a file, URL or webcam picture
    Predictions(project)   # stored predictions and the smart labeler
    ProjectSettings(project)  # name, description, domain, split; rename, merge, delete tags
    Workbench(project)     # all of them in one tabbed app (what `cvbench app` shows)
    ProjectsHome(folder)   # the projects in a folder: create, open, rename, import, delete

A saved notebook cannot show a widget again without its kernel: ``clear_widget_state``, a
Jupyter server pre-save hook, saves their text instead (see :mod:`cvbench.ui._notebook`).
"""

from ._base import FilteredWidget, ImageFilter, ProjectWidget
from ._notebook import clear_widget_state
from .box_editor import BoxEditor, SuggestFn
from .gallery import Gallery
from .home import ProjectsHome
from .insight import Insight
from .performance import Performance
from .predictions import Predictions
from .quick_test import QuickTest
from .settings import ProjectSettings
from .tagger import Tagger
from .train_panel import TrainPanel
from .uploader import Uploader
from .workbench import ExportPanel, Workbench

__all__ = [
    "Gallery",
    "Tagger",
    "BoxEditor",
    "Uploader",
    "TrainPanel",
    "Performance",
    "Insight",
    "QuickTest",
    "Predictions",
    "ExportPanel",
    "Workbench",
    "ProjectSettings",
    "ProjectsHome",
    "ProjectWidget",
    "FilteredWidget",
    "ImageFilter",
    "SuggestFn",
    "clear_widget_state",
]
