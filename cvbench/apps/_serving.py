"""Which iteration a quick-test page serves (shared by the widget page and the server)."""

from __future__ import annotations

from ..errors import ProjectError
from ..iteration import Iteration
from ..project import Project

__all__ = ["serving_iteration"]


def serving_iteration(project: Project, iteration: str | None) -> Iteration:
    """``iteration`` (id, name or published name); with None the newest published one,
    else the newest one."""
    if iteration is not None:
        return project.iteration(iteration)
    iterations = project.iterations
    if not iterations:
        raise ProjectError(f"project {project.name!r} has no trained iteration yet: train one "
                           "in the workbench (cvbench app) first")
    published = [it for it in iterations if it.published_name]
    return (published or iterations)[0]
