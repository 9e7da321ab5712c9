"""What one ``cvbench serve`` is configured with: keys, limits, URL policy, training options."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Limits", "ServerConfig", "TRAINING_KEY_ENV", "PREDICTION_KEY_ENV", "new_key"]

TRAINING_KEY_ENV = "CVBENCH_TRAINING_KEY"
PREDICTION_KEY_ENV = "CVBENCH_PREDICTION_KEY"
_MB = 1024 * 1024
#: What a JSON body may hold besides images (ids, names, metadata, queries).
_JSON_BYTES = 1 * _MB
#: Multipart framing allowed above an image's own limit.
_FORM_SLACK = 64 * 1024
#: Project kinds the per-kind training options may name ("*": every kind).
_KINDS = ("multiclass", "multilabel", "detection", "*")
_TRAINING_KEYS = ("size", "settings", "max_budget_minutes")


def new_key() -> str:
    """A fresh API key: 32 hex digits, like Custom Vision's."""
    return secrets.token_hex(16)


@dataclass(frozen=True)
class Limits:
    """Custom Vision's limits on requests (its documented S0 numbers by default)."""

    training_image_bytes: int = 6 * _MB
    prediction_image_bytes: int = 4 * _MB
    batch_images: int = 64
    batch_tags: int = 20
    regions_per_image: int = 300

    def __post_init__(self) -> None:
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"limit {name}={value!r} must be a positive whole number")

    # bodies refused unread when their Content-Length is above these
    def body_bytes(self, kind: str) -> int:
        """The largest body a route of ``kind`` reads: ``json``, ``files`` (a JSON batch of
        base64 images), ``image`` (a training upload of up to a batch of images),
        ``single`` (one training-sized image: quick test) or ``prediction`` (one image)."""
        if kind == "files":  # base64: 4 characters per 3 bytes
            return self.batch_images * (self.training_image_bytes * 4 // 3 + 4096) + _JSON_BYTES
        if kind == "image":
            return self.batch_images * (self.training_image_bytes + _FORM_SLACK)
        if kind == "single":
            return self.training_image_bytes + _FORM_SLACK
        if kind == "prediction":
            return self.prediction_image_bytes + _FORM_SLACK
        return _JSON_BYTES


@dataclass(frozen=True)
class ServerConfig:
    """Everything a server instance needs; :meth:`from_env` fills in the keys.

    ``training`` holds per-kind options of ``Project.train`` for the runs the API starts:
    ``{"detection": {"size": 128, "settings": {"head_seconds": 5}}, "*": {"size": 112}}``;
    ``max_budget_minutes`` caps an Advanced run's ``reservedBudgetInHours``.
    """

    root: str
    training_key: str
    prediction_key: str
    allow_private_urls: bool = False
    limits: Limits = field(default_factory=Limits)
    training: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    url_timeout: float = 20.0

    def __post_init__(self) -> None:
        if not self.training_key or not self.prediction_key:
            raise ValueError("both keys must be non-empty")
        if self.training_key == self.prediction_key:
            raise ValueError("the training key and the prediction key must differ: a "
                             "prediction key must never open a training route")
        for kind, options in self.training.items():
            if kind not in _KINDS:
                raise ValueError(f"training options for {kind!r}: the kinds are {list(_KINDS)}")
            unknown = sorted(set(options) - set(_TRAINING_KEYS))
            if unknown:
                raise ValueError(f"unknown training option(s) {unknown} for {kind!r}; the "
                                 f"options are {list(_TRAINING_KEYS)}")

    @classmethod
    def from_env(cls, root: str, *, environ: Mapping[str, str] | None = None,
                 **kwargs: Any) -> tuple[ServerConfig, dict[str, bool]]:
        """A config whose keys come from ``CVBENCH_TRAINING_KEY`` /
        ``CVBENCH_PREDICTION_KEY`` or are generated; also says which were generated."""
        env = os.environ if environ is None else environ
        training = env.get(TRAINING_KEY_ENV) or ""
        prediction = env.get(PREDICTION_KEY_ENV) or ""
        generated = {"training": not training, "prediction": not prediction}
        config = cls(root=root, training_key=training or new_key(),
                     prediction_key=prediction or new_key(), **kwargs)
        return config, generated

    def training_options(self, kind: str) -> dict[str, Any]:
        """The options for a project of ``kind``: its own entry over the ``"*"`` one."""
        merged = {**self.training.get("*", {}), **self.training.get(kind, {})}
        return dict(merged)

    @staticmethod
    def parse_training(text: str | None) -> dict[str, dict[str, Any]]:
        """``--training-options`` JSON text, checked to be an object of objects."""
        if not text:
            return {}
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--training-options is not JSON ({exc})") from None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise ValueError('--training-options must be a JSON object of objects, e.g. '
                             '\'{"*": {"size": 112}, "detection": {"size": 128}}\'')
        return data
