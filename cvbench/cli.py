"""``cvbench …``: the command line, a thin layer over the same :class:`~cvbench.Project` API
a notebook calls.

    cvbench sample digits digits-project --small
    cvbench info digits-project
    cvbench images digits-project --tag 3 --take 5 --json
    cvbench app digits-project --no-browser      # the workbench in Voila, on 127.0.0.1

Every command takes ``--json`` and then prints one JSON document on stdout. A user's
mistake (a missing project, an unknown tag, a bad option) prints one line,
``cvbench: error: …``, on stderr and exits with a non-zero status; it never prints a
traceback. ``build_parser()`` builds the parser; ``main(argv)`` runs a command and returns
the exit status. Commands live in ``COMMANDS``, one :class:`Command` each: the arguments it
adds to its subparser and the function that runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from ._types import KINDS
from .errors import CvbenchError, TagError

if TYPE_CHECKING:  # pragma: no cover
    from ._types import Tag
    from .project import Project

__all__ = ["build_parser", "main", "COMMANDS", "Command", "FORMATS", "EXIT_ERROR", "EXIT_USAGE"]

#: Dataset formats of ``import`` and ``export`` (the names of ``cvbench.formats.FORMATS``).
FORMATS = ("imagefolder", "csv", "coco", "voc", "yolo", "archive")
EXIT_ERROR = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """The command line itself is wrong (unknown option, bad choice, missing argument)."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser that reports a usage error as one line, through :func:`main`."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


@dataclass(frozen=True)
class Command:
    """One subcommand: its help line, the arguments it adds, the function that runs it."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# -- output --------------------------------------------------------------------------------
def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def _table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells
    )


def _open(path: str) -> Project:
    from .project import open_project

    return open_project(path)


# -- create --------------------------------------------------------------------------------
def _args_create(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="folder of the new project (created if missing; must hold no project)")
    p.add_argument("--kind", choices=KINDS, default="multiclass",
                   help="project kind (default: multiclass)")
    p.add_argument("--domain", metavar="NAME",
                   help="Custom Vision domain (backbone), e.g. 'General (compact)' (the default, "
                        "works offline)")
    p.add_argument("--name", help="project name (default: the folder's name)")


def _run_create(args: argparse.Namespace) -> int:
    from .project import create_project

    with create_project(args.dir, kind=args.kind, domain=args.domain, name=args.name) as project:
        settings = {**project.settings, "path": str(project.path)}
    if args.json:
        _print_json(settings)
    else:
        print(f"created {settings['kind']} project {settings['name']!r} at {settings['path']} "
              f"(domain {settings['domain']!r})")
    return 0


# -- import / export -----------------------------------------------------------------------
def _args_import(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")
    p.add_argument("source", help="dataset: a folder, an annotation file or an archive")
    p.add_argument("--format", required=True, choices=FORMATS, help="dataset format")
    p.add_argument("--images-dir", metavar="DIR",
                   help="coco, voc: the folder of the images, when it is not beside the "
                        "annotations (relative to them)")
    p.add_argument("--negative-tag", metavar="NAME",
                   help="imagefolder, csv: the folder or tag name that means Negative")
    p.add_argument("--classes", nargs="+", metavar="NAME",
                   help="yolo: the class names in order (class 0 first); they win over "
                        "classes.txt")


def _args_export(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")
    p.add_argument("dest", help="where to write the dataset (a folder, or a .zip for archive)")
    p.add_argument("--format", required=True, choices=FORMATS, help="dataset format")
    p.add_argument("--untagged", action="store_true",
                   help="imagefolder: also write untagged images (at the top level of DEST)")


def _format_options(direction: str, fmt: str, given: dict[str, Any]) -> dict[str, Any]:
    """The options given on the command line, refused where ``fmt`` does not take them."""
    import inspect

    from . import formats

    def accepts(name: str, option: str) -> bool:
        function = getattr(formats.get_format(name), direction)
        return option in inspect.signature(function).parameters

    options = {k: v for k, v in given.items() if v not in (None, False)}
    for option in options:
        if not accepts(fmt, option):
            takers = [name for name in formats.FORMATS if accepts(name, option)]
            raise UsageError(
                f"--{option.replace('_', '-')} does not apply to --format {fmt}; it applies "
                f"to {', '.join(takers) or 'no format'}"
            )
    return options


def _run_import(args: argparse.Namespace) -> int:
    options = _format_options("importer", args.format, {
        "images_dir": args.images_dir, "negative_tag": args.negative_tag,
        "classes": args.classes,
    })
    with _open(args.dir) as project:
        report = project.import_dataset(args.source, args.format, **options)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(report)
    nothing = report.imported == 0 and report.duplicates == 0
    return EXIT_ERROR if nothing and report.problems else 0


def _run_export(args: argparse.Namespace) -> int:
    options = _format_options("exporter", args.format, {"untagged": args.untagged})
    with _open(args.dir) as project:
        report = project.export_dataset(args.dest, args.format, **options)
    if args.json:
        _print_json(report.to_dict())
    else:
        print(f"{report.format} export to {report.dest}: {report.images} images, "
              f"{report.regions} boxes, {report.tags} tags, {len(report.problems)} problems")
        for problem in report.problems:
            print(f"  {problem}")
    return 0


# -- info ----------------------------------------------------------------------------------
def _args_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")


def _run_info(args: argparse.Namespace) -> int:
    with _open(args.dir) as project:
        summary = project.summary()
        head = {"name": project.name, "id": project.id, "path": str(project.path)}
    if args.json:
        _print_json({**head, **summary.to_dict()})
    else:
        print(f"{head['name']} ({head['path']})")
        print(summary)
    return 0


# -- tags ----------------------------------------------------------------------------------
def _args_tags(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--create", metavar="NAME", help="create a tag")
    action.add_argument("--rename", nargs=2, metavar=("OLD", "NEW"), help="rename a tag")
    action.add_argument("--merge", nargs="+", metavar="TAG",
                        help="move the images and boxes of these tags onto --into, then "
                             "delete them")
    action.add_argument("--delete", metavar="NAME",
                        help="delete a tag with its image links and boxes (the images stay)")
    p.add_argument("--negative", action="store_true",
                   help="with --create: make it the Negative tag (classification)")
    p.add_argument("--into", metavar="TAG",
                   help="with --merge: the tag to merge into (created if missing)")
    p.add_argument("--description", default="", help="with --create: a description")


def _run_tags(args: argparse.Namespace) -> int:
    if args.negative and args.create is None:
        raise UsageError("--negative goes with --create NAME (see 'cvbench tags --help')")
    if (args.into is None) != (args.merge is None):
        raise UsageError("--merge TAG… and --into TAG go together (see 'cvbench tags --help')")
    with _open(args.dir) as project:
        if args.create is not None:
            tag = project.create_tag(args.create, "Negative" if args.negative else "Regular",
                                     args.description)
            done, result = f"created tag {tag.name!r} ({tag.type})", asdict(tag)
        elif args.rename is not None:
            old = project.get_tag(args.rename[0])
            tag = project.rename_tag(old, args.rename[1])
            done, result = f"renamed tag {old.name!r} to {tag.name!r}", asdict(tag)
        elif args.merge is not None:
            tag = _merge(project, args.merge, args.into)
            done = (f"merged {', '.join(repr(m) for m in args.merge)} into {tag.name!r} "
                    f"({tag.image_count} images)")
            result = asdict(tag)
        elif args.delete is not None:
            tag = project.get_tag(args.delete)
            project.delete_tag(tag)
            done, result = f"deleted tag {tag.name!r}", {"deleted": asdict(tag)}
        else:
            tags = project.tags
            if args.json:
                _print_json([asdict(t) for t in tags])
            elif tags:
                print(_table([(t.name, t.type, t.image_count, t.id) for t in tags],
                             ("tag", "type", "images", "id")))
            else:
                print("no tags; create one with: cvbench tags DIR --create NAME")
            return 0
    if args.json:
        _print_json(result)
    else:
        print(done)
    return 0


def _merge(project: Project, sources: list[str], into: str) -> Tag:
    """Merge ``sources`` into ``into``, creating ``into`` first when it does not exist."""
    tags = [project.get_tag(s) for s in sources]
    try:
        project.get_tag(into)
    except TagError:
        types = {t.type for t in tags}
        if len(types) > 1:
            raise TagError("a Negative tag cannot be merged with a Regular tag") from None
        project.create_tag(into, types.pop())
    return project.merge_tags(tags, into=into)


# -- images --------------------------------------------------------------------------------
def _args_images(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--tag", metavar="TAG", help="only images with this tag")
    which.add_argument("--untagged", action="store_true", help="only images without tags")
    p.add_argument("--split", choices=("train", "validation"), help="only images of this split")
    p.add_argument("--skip", type=int, default=0, metavar="N", help="skip the N newest images")
    p.add_argument("--take", type=int, default=None, metavar="N",
                   help="list at most N images (default: all)")


def _run_images(args: argparse.Namespace) -> int:
    if args.skip < 0 or (args.take is not None and args.take < 0):
        raise UsageError("--skip and --take take numbers >= 0 (see 'cvbench images --help')")
    with _open(args.dir) as project:
        total = project.count_images(tag=args.tag, untagged=args.untagged, split=args.split)
        images = project.images(tag=args.tag, untagged=args.untagged, split=args.split,
                                skip=args.skip, take=args.take)
        detection = project.kind == "detection"
    if args.json:
        _print_json({"total": total, "skip": args.skip, "take": args.take,
                     "images": [im.to_dict() for im in images]})
        return 0
    if not images:
        print(f"no images (of {total} matching)")
        return 0
    rows = []
    for im in images:
        if detection:
            labels = f"{len(im.regions)} boxes" + (f": {', '.join(im.tags)}" if im.tags else "")
        else:
            labels = ", ".join(im.tags) or "-"
        rows.append((im.id, im.split or "-", f"{im.width}x{im.height}", labels,
                     im.original_name or "-"))
    print(_table(rows, ("id", "split", "size", "boxes" if detection else "tags", "name")))
    first = args.skip + 1
    print(f"({first}-{args.skip + len(images)} of {total})")
    return 0


# -- add -----------------------------------------------------------------------------------
def _args_add(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")
    p.add_argument("files", nargs="+", metavar="FILE", help="image files or http(s) URLs")
    p.add_argument("--tag", action="append", metavar="TAG", dest="tags",
                   help="tag every image with TAG (repeat for more; created if missing)")


def _run_add(args: argparse.Namespace) -> int:
    with _open(args.dir) as project:
        results = project.add_images(args.files, tags=args.tags)
    added = sum(r.status == "OK" for r in results)
    duplicates = sum(r.status == "OKDuplicate" for r in results)
    failed = [r for r in results if not r.ok]
    if args.json:
        _print_json({"added": added, "duplicates": duplicates, "failed": len(failed),
                     "results": [r.to_dict() for r in results]})
    else:
        for r in results:
            print(f"{r.status:<12} {r.source}" + (f"  {r.image_id}" if r.image_id else "")
                  + (f"  ({r.message})" if r.message else ""))
        print(f"{added} added, {duplicates} duplicates, {len(failed)} failed")
    return EXIT_ERROR if failed else 0


# -- sample --------------------------------------------------------------------------------
def _args_sample(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", nargs="?", help="sample name (see --list)")
    p.add_argument("dir", nargs="?", help="folder for the sample project (new or empty)")
    p.add_argument("--list", action="store_true", help="list the samples")
    p.add_argument("--small", action="store_true", help="a smaller set, for a quick look")
    p.add_argument("--seed", type=int, default=0, help="another deterministic set of images")
    p.add_argument("--domain", metavar="NAME", help="Custom Vision domain (backbone)")


def _run_sample(args: argparse.Namespace) -> int:
    from . import samples

    if args.list:
        listed = samples.list_samples()
        if args.json:
            _print_json([s.to_dict() for s in listed])
        else:
            print(_table([(s.name, s.kind, s.size) for s in listed], ("sample", "kind", "size")))
        return 0
    if args.name is None or args.dir is None:
        raise UsageError(
            "give a sample NAME and a DIR, or --list to see the samples "
            "(see 'cvbench sample --help')"
        )
    with samples.make_sample(args.name, args.dir, small=args.small, seed=args.seed,
                             domain=args.domain) as project:
        summary = project.summary()
        head = {"sample": args.name, "name": project.name, "path": str(project.path)}
    if args.json:
        _print_json({**head, **summary.to_dict()})
    else:
        print(f"built sample {args.name!r} at {head['path']}")
        print(summary)
    return 0


# -- train / evaluate / predict / export-model ---------------------------------------------
def _iteration(project: Project, name: str | None) -> Any:
    """The iteration named (id, name or published name), or the newest one."""
    if name is None:
        its = project.iterations
        if not its:
            raise ValueError(
                f"project {project.name!r} has no trained iteration; train one with "
                f"'cvbench train {project.path}'"
            )
        return its[0]
    return project.iteration(name)


def _args_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")
    p.add_argument("--mode", choices=("quick", "advanced"), default="quick",
                   help="quick: frozen features, seconds (default); advanced: fine-tuning "
                        "within --budget")
    p.add_argument("--budget", type=float, metavar="MINUTES",
                   help="advanced: time budget in minutes (default 10)")
    p.add_argument("--domain", metavar="NAME", help="Custom Vision domain (default: the project's)")
    p.add_argument("--tags", nargs="+", metavar="TAG", help="train on these tags only")
    p.add_argument("--publish", metavar="NAME", help="publish the new iteration under NAME")


def _run_train(args: argparse.Namespace) -> int:
    with _open(args.dir) as project:
        iteration = project.train(args.mode, budget_minutes=args.budget, tags=args.tags,
                                  domain=args.domain, progress_bar=not args.json)
        if args.publish:
            iteration.publish(args.publish)
        perf = iteration.performance()
        info = {**iteration.to_dict(), "performance": perf.to_dict()}
        if args.json:
            _print_json(info)
        else:
            print(f"{iteration.name}: {iteration.mode} training on {iteration.domain!r} in "
                  f"{iteration.trained_seconds:.1f} s")
            print(f"precision {perf.precision:.1%}  recall {perf.recall:.1%}  "
                  f"mAP {perf.average_precision:.1%}  (threshold 50%, "
                  f"{perf.n_images} validation images)")
    return 0


def _args_evaluate(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")
    p.add_argument("--iteration", metavar="NAME", help="iteration (default: the newest)")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="probability threshold (default 0.5)")
    p.add_argument("--overlap", type=float, default=None,
                   help="detection: overlap (IoU) threshold (default 0.5)")


def _run_evaluate(args: argparse.Namespace) -> int:
    if not 0.0 <= args.threshold <= 1.0:
        raise ValueError(f"--threshold {args.threshold} should lie between 0 and 1")
    with _open(args.dir) as project:
        iteration = _iteration(project, args.iteration)
        perf = iteration.performance(args.threshold, args.overlap)
        if args.json:
            _print_json({"iteration": iteration.name, "id": iteration.id, **perf.to_dict()})
            return 0
        over = f", overlap {perf.overlap:.0%}" if perf.overlap is not None else ""
        print(f"{iteration.name} ({iteration.mode}, {iteration.domain}) at threshold "
              f"{perf.threshold:.0%}{over}, {perf.n_images} validation images")
        print(f"precision {perf.precision:.1%}  recall {perf.recall:.1%}  "
              f"mAP {perf.average_precision:.1%}")
        df = perf.per_tag
        rows = [
            (r["tag"], _pct(r["precision"]), _pct(r["recall"]), _pct(r["ap"]), r["n_true"])
            for _, r in df.iterrows()
        ]
        print(_table(rows, ("tag", "precision", "recall", "AP", "images")))
    return 0


def _pct(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return "-"
    return "-" if v != v else f"{v:.1%}"


def _args_predict(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")
    p.add_argument("images", nargs="+", help="image files or http(s) URLs")
    p.add_argument("--iteration", metavar="NAME", help="iteration (default: the newest)")
    p.add_argument("--threshold", type=float, default=0.0,
                   help="show predictions at or above this probability (default: all)")
    p.add_argument("--store", action="store_true",
                   help="keep the images and predictions for review (the Predictions tab)")


def _run_predict(args: argparse.Namespace) -> int:
    with _open(args.dir) as project:
        iteration = _iteration(project, args.iteration)
        results = iteration.predict(list(args.images), store=args.store)
        out = []
        for source, result in zip(args.images, results, strict=True):
            d = result.to_dict()
            d["predictions"] = [x for x in d["predictions"]
                                if x["probability"] >= args.threshold]
            out.append({"image": source, **d})
        if args.json:
            _print_json(out)
            return 0
        for item in out:
            print(item["image"])
            for pred in item["predictions"][:10]:
                box = pred.get("boundingBox")
                where = "" if not box else (
                    f"  at left {box['left']:.3f} top {box['top']:.3f} "
                    f"width {box['width']:.3f} height {box['height']:.3f}")
                print(f"  {pred['tagName']:<20} {pred['probability']:7.1%}{where}")
    return 0


def _args_export_model(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", help="project folder")
    p.add_argument("dest", help="folder to write the model and its JSON sidecar to")
    p.add_argument("--format", choices=("onnx", "torchscript", "fastai", "openvino", "coreml"),
                   default="onnx",
                   help="onnx (default), torchscript, openvino (IR, needs cvbench[openvino]), "
                        "coreml (classification, needs cvbench[coreml]; its parity cannot be "
                        "checked off Apple systems), or fastai (a pickle: never load one from "
                        "a stranger)")
    p.add_argument("--iteration", metavar="NAME", help="iteration (default: the newest)")


def _run_export_model(args: argparse.Namespace) -> int:
    with _open(args.dir) as project:
        iteration = _iteration(project, args.iteration)
        exported = iteration.export(args.format, args.dest)
        info = {"iteration": iteration.name, **exported.to_dict()}
        if args.json:
            _print_json(info)
        else:
            print(f"exported {iteration.name} as {args.format} to {exported.path}")
            if exported.parity is not None:
                print(f"parity with the in-app predictions: {exported.parity.to_dict()}")
    return 0


# -- app -----------------------------------------------------------------------------------
def _args_app(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", metavar="PROJECT_DIR",
                   help="project folder, or a folder of projects to open on the projects home "
                        "(default: a digits sample project in ./cvbench-sample, made the "
                        "first time)")
    p.add_argument("--port", type=int, metavar="N",
                   help="port on 127.0.0.1 (default: 8866, or a free one when it is taken)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.add_argument("--app", choices=("workbench", "quicktest"), default="workbench",
                   help="the workbench (default), or the quick-test page of one iteration")
    p.add_argument("--iteration", metavar="NAME",
                   help="quicktest: the iteration (name or published name; default: the "
                        "newest published one)")


def _run_app(args: argparse.Namespace) -> int:
    from .app import serve

    if args.iteration is not None and args.app != "quicktest":
        raise UsageError("--iteration goes with --app quicktest (see 'cvbench app --help')")

    def say(text: str) -> None:  # with --json, stdout holds the one JSON document
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    def ready(server: Any) -> None:
        if args.json:
            _print_json({"url": server.url, "project": str(server.project), "app": server.app})
            sys.stdout.flush()

    return serve(args.dir, app=args.app, port=args.port, open_browser=not args.no_browser,
                 iteration=args.iteration, say=say, on_ready=ready)


# -- lab -----------------------------------------------------------------------------------
def _args_lab(p: argparse.ArgumentParser) -> None:
    p.add_argument("dir", nargs="?", metavar="FOLDER",
                   help="folder for the notebooks (default: ./cvbench-notebooks); the teaching "
                        "notebooks are copied into it once, never over a changed one")
    p.add_argument("--port", type=int, metavar="N",
                   help="port on 127.0.0.1 (default: 8888, or a free one when it is taken)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")


def _run_lab(args: argparse.Namespace) -> int:
    from .lab import serve_lab

    def say(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    def ready(server: Any) -> None:
        if args.json:
            _print_json({"url": server.url, "folder": str(server.project)})
            sys.stdout.flush()

    return serve_lab(args.dir, port=args.port, open_browser=not args.no_browser, say=say,
                     on_ready=ready)


# -- serve ---------------------------------------------------------------------------------
def _args_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("root", metavar="ROOT",
                   help="folder of the projects to serve (one folder per project; created if "
                        "missing)")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1; any other prints a warning)")
    p.add_argument("--port", type=int, default=8000, metavar="N", help="port (default: 8000)")
    p.add_argument("--allow-private-urls", action="store_true",
                   help="fetch image URLs of private, loopback and link-local addresses too "
                        "(by default only public addresses are fetched for a client)")
    p.add_argument("--training-options", metavar="JSON",
                   help="options of the runs train_project starts, per project kind or '*': "
                        "size, settings, max_budget_minutes (e.g. '{\"*\": {\"size\": 112}}')")
    for name, default, what in (("training-image-mb", 6, "training image"),
                                ("prediction-image-mb", 4, "prediction image")):
        p.add_argument(f"--max-{name}", type=float, default=default, metavar="MB",
                       help=f"largest {what} in MB (default: {default}, Custom Vision's)")
    for name, default, what in (("batch-images", 64, "images per batch"),
                                ("batch-tags", 20, "tags per batch"),
                                ("regions", 300, "regions per image")):
        p.add_argument(f"--max-{name}", type=int, default=default, metavar="N",
                       help=f"most {what} (default: {default}, Custom Vision's)")


def _run_serve(args: argparse.Namespace) -> int:
    from .server import Limits, ServerConfig, serve

    limits = Limits(training_image_bytes=int(args.max_training_image_mb * 2**20),
                    prediction_image_bytes=int(args.max_prediction_image_mb * 2**20),
                    batch_images=args.max_batch_images, batch_tags=args.max_batch_tags,
                    regions_per_image=args.max_regions)
    return serve(args.root, host=args.host, port=args.port,
                 allow_private_urls=args.allow_private_urls, limits=limits,
                 training=ServerConfig.parse_training(args.training_options))


# -- the table -----------------------------------------------------------------------------
COMMANDS: dict[str, Command] = {
    "create": Command("create a project", _args_create, _run_create),
    "import": Command("import a dataset into a project", _args_import, _run_import),
    "export": Command("export a project's images, tags and boxes as a dataset",
                      _args_export, _run_export),
    "info": Command("summarize a project: tags, counts, split, warnings", _args_info, _run_info),
    "tags": Command("list, create, rename, merge or delete tags", _args_tags, _run_tags),
    "images": Command("list images, filtered by tag, untagged or split", _args_images,
                      _run_images),
    "add": Command("add images by path or URL", _args_add, _run_add),
    "sample": Command("build a sample project from data installed packages ship",
                      _args_sample, _run_sample),
    "train": Command("train a new iteration (quick or advanced)", _args_train, _run_train),
    "evaluate": Command("precision, recall and AP per tag of an iteration", _args_evaluate,
                        _run_evaluate),
    "predict": Command("predict the tags (or boxes) of images", _args_predict, _run_predict),
    "export-model": Command("export an iteration's model (ONNX, TorchScript, fastai)",
                            _args_export_model, _run_export_model),
    "app": Command("open the workbench in the browser (Voila on 127.0.0.1)", _args_app,
                   _run_app),
    "lab": Command("JupyterLab on 127.0.0.1 with the teaching notebooks (for a workshop)",
                   _args_lab, _run_lab),
    "serve": Command("serve Custom Vision's REST API (training and prediction) over the "
                     "projects in a folder, on 127.0.0.1", _args_serve, _run_serve),
}


def build_parser() -> argparse.ArgumentParser:
    """The ``cvbench`` parser: one subparser per entry of ``COMMANDS``, each with --json."""
    from . import __version__

    parser = _Parser(prog="cvbench", description="cvbench: a local, open-source Custom Vision.")
    parser.add_argument("--version", action="version", version=f"cvbench {__version__}")
    parser.add_argument("--json", action="store_true",
                        help="print machine-readable JSON on stdout (also after COMMAND)")
    common = _Parser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print machine-readable JSON on stdout")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                parser_class=_Parser)
    for name, command in COMMANDS.items():
        p = sub.add_parser(name, help=command.help, description=command.help, parents=[common])
        command.arguments(p)
        p.set_defaults(run=command.run)
    return parser


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``cvbench`` with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.run(args)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    except UsageError as exc:
        print(f"cvbench: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # the reader went away (``cvbench images … | head``)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except (CvbenchError, ValueError, KeyError, OSError) as exc:
        print(f"cvbench: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cvbench: interrupted", file=sys.stderr)
        return 130
