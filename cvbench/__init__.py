"""cvbench: a local, open-source Custom Vision.

    import cvbench
    project = cvbench.create_project("flowers", kind="multiclass")
    project.add_images(["rose1.jpg", "rose2.jpg"], tags=["rose"])
    print(project.summary())
"""

from ._types import (
    AddResult,
    ExportReport,
    ImportReport,
    Problem,
    Region,
    StoredImage,
    Summary,
    Tag,
)
from ._version import __version__
from .boxes import Box
from .errors import (
    CancelledError,
    CvbenchError,
    ImageError,
    OfflineWeightsError,
    ProjectError,
    TagError,
    TrainingError,
)
from .iteration import Iteration, Performance
from .predict import Prediction, PredictionResult, StoredPrediction, TagSuggestion
from .project import Project, create_project, import_project, open_project

__all__ = [
    "__version__",
    "create_project",
    "open_project",
    "import_project",
    "Project",
    "Box",
    "Tag",
    "Region",
    "StoredImage",
    "AddResult",
    "ImportReport",
    "ExportReport",
    "Problem",
    "Summary",
    "CvbenchError",
    "ProjectError",
    "ImageError",
    "TagError",
    "TrainingError",
    "OfflineWeightsError",
    "CancelledError",
    "Iteration",
    "Performance",
    "Prediction",
    "PredictionResult",
    "StoredPrediction",
    "TagSuggestion",
]
