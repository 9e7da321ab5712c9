"""``cvbench serve ROOT``: Custom Vision's REST API over the projects in a folder.

    cvbench serve my-projects                    # http://127.0.0.1:8000/, keys printed

    from azure.cognitiveservices.vision.customvision.training import CustomVisionTrainingClient
    from msrest.authentication import ApiKeyCredentials
    trainer = CustomVisionTrainingClient("http://127.0.0.1:8000/",
                                         ApiKeyCredentials(in_headers={"Training-key": KEY}))

One server answers the training API (``/customvision/v3.4-preview/training``, alias
``v3.3``) and the prediction API (``/customvision/v3.1/prediction``, alias ``v3.0``): every
one of the official SDK's 60 operations (``TRAINING_OPS``, ``PREDICTION_OPS``). It is a
face like the workbench: each operation calls the public :class:`~cvbench.Project` /
:class:`~cvbench.Iteration` API, so an image uploaded through the SDK shows in the gallery
of a workbench open on the same project folder.

What it keeps to:

* Custom Vision's wire: its success codes, camelCase fields, UUID ids, ISO dates in UTC,
  and errors as ``{"code", "message"}`` with its error codes and a JSON content type.
* Keys in headers (``Training-Key``, ``Prediction-Key`` or ``Ocp-Apim-Subscription-Key``),
  compared in constant time; a prediction key never opens a training route.
* Its limits (6 MB training image, 4 MB prediction image, 64 images and 20 tags per batch,
  300 regions per image), bodies refused unread when their Content-Length is too large.
* URLs fetched on a client's behalf only from public addresses (unless
  ``--allow-private-urls``), with bounded size and time.
* Training in the background (``Project.start_training``; Regular: quick; Advanced:
  advanced with the reserved budget): the run is an iteration of the project from its
  start, under the id the client gets, seen by every face; one that a stop or ``kill -9``
  interrupted shows as Failed. Without ``forceTrain`` a project that did not change since
  its newest iteration answers ``BadRequestTrainingNotNeeded``.
  One server per ROOT (a lock in ``ROOT/.cvbench-serve/``, which keeps its exports and
  publish resources).

What the server needs from the facade is listed in ``FACADE_GAPS.md`` beside this file.
"""

from ._app import PREDICTION_OPS, TRAINING_OPS, create_app, operations
from ._config import Limits, ServerConfig
from ._serve import serve

__all__ = ["create_app", "serve", "ServerConfig", "Limits", "TRAINING_OPS", "PREDICTION_OPS",
           "operations"]
