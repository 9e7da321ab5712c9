"""Copies of a project database for archives, and checks of a copied one."""

from __future__ import annotations

import os
import sqlite3
import zipfile
from collections.abc import Callable, Collection
from pathlib import Path

__all__ = ["snapshot_database", "database_contents", "check_database", "UnreadableDatabase",
           "add_project_folder"]

# image files are already compressed; deflating them again costs time for nothing
_STORED_FOLDERS = {"images", "thumbs"}


class UnreadableDatabase(Exception):
    """A file that should be a project database cannot be read as one."""


def snapshot_database(db_path: Path, target: Path) -> None:
    """A consistent copy of the database ``db_path`` at ``target`` (SQLite's backup API,
    safe while other connections write), in rollback-journal mode: one self-contained
    file."""
    src = sqlite3.connect(db_path, timeout=60.0)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
        finally:
            dst.close()
    finally:
        src.close()


def database_contents(db_path: Path) -> tuple[dict[str, int], set[str]]:
    """Rows per table (images, tags, regions, iterations) of a database copy, and the
    image files it names (``images/ab/<sha>.<ext>``, relative to the project folder)."""
    conn = sqlite3.connect(db_path)
    try:
        counts = {
            table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            for table in ("images", "tags", "regions", "iterations")
        }
        files = {
            f"images/{sha[:2]}/{sha}.{ext}"
            for sha, ext in conn.execute("SELECT sha256, ext FROM images")
        }
    finally:
        conn.close()
    return counts, files


def check_database(db_path: Path) -> list[str]:
    """SQLite's integrity check of a database file: ``["ok"]`` when sound. Raises
    :class:`UnreadableDatabase` when it cannot be read at all."""
    try:
        conn = sqlite3.connect(db_path)
        try:
            return [r[0] for r in conn.execute("PRAGMA integrity_check")]
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise UnreadableDatabase(str(exc)) from None


def add_project_folder(zf: zipfile.ZipFile, root: Path, *, skip: Collection[Path],
                       leave_out: Collection[str], problem: Callable[[str, str], None]
                       ) -> set[str]:
    """Write every file of the project folder ``root`` into ``zf`` (paths relative to it),
    except the files named ``leave_out`` at its top, temporaries, and the paths in
    ``skip``; symbolic links are reported to ``problem(rel, why)`` and left out. Returns
    the relative paths written."""
    written: set[str] = set()
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        here = Path(folder)
        for d in list(dirs):
            if (here / d).is_symlink():
                problem((here / d).relative_to(root).as_posix(), "a symbolic link; not archived")
                dirs.remove(d)
        for name in sorted(names):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if (here == root and name in leave_out) or name.startswith(".tmp-"):
                continue
            if path.resolve() in skip:
                continue
            if path.is_symlink():
                problem(rel, "a symbolic link; not archived")
                continue
            stored = rel.split("/", 1)[0] in _STORED_FOLDERS
            try:
                zf.write(path, rel, zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED)
            except FileNotFoundError:
                continue  # removed while walking; images are checked against the database
            written.add(rel)
    return written
