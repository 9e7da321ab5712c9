"""The project database: one SQLite file in WAL mode, with a versioned schema.

Migrations are an ordered list of SQL scripts; ``PRAGMA user_version`` records how many
have run. A write transaction starts with ``BEGIN IMMEDIATE`` so that two processes
writing to one project queue behind each other (``busy_timeout``) instead of failing.

Only :mod:`cvbench.store` opens connections; everything else goes through
:class:`cvbench.store.Store` and its repositories.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["connect", "transaction", "MIGRATIONS", "SCHEMA_VERSION", "DB_NAME"]

DB_NAME = "cvbench.db"

MIGRATIONS: list[str] = [
    # 1: the whole first schema
    """
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    CREATE TABLE tags (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
        type        TEXT NOT NULL CHECK (type IN ('Regular', 'Negative')),
        description TEXT NOT NULL DEFAULT '',
        created     TEXT NOT NULL
    );
    CREATE TABLE images (
        id             TEXT PRIMARY KEY,
        sha256         TEXT NOT NULL UNIQUE,
        ext            TEXT NOT NULL,
        width          INTEGER NOT NULL,
        height         INTEGER NOT NULL,
        bytes          INTEGER NOT NULL,
        original_name  TEXT NOT NULL DEFAULT '',
        created        TEXT NOT NULL,
        seq            INTEGER NOT NULL,
        split          TEXT CHECK (split IN ('train', 'validation')),
        split_override TEXT CHECK (split_override IN ('train', 'validation'))
    );
    CREATE INDEX images_seq ON images (seq);
    CREATE INDEX images_split ON images (split, seq);
    CREATE TABLE image_tags (
        image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        tag_id   TEXT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        PRIMARY KEY (image_id, tag_id)
    ) WITHOUT ROWID;
    CREATE INDEX image_tags_tag ON image_tags (tag_id, image_id);
    CREATE TABLE regions (
        id       TEXT PRIMARY KEY,
        image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        tag_id   TEXT NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
        left     REAL NOT NULL,
        top      REAL NOT NULL,
        width    REAL NOT NULL,
        height   REAL NOT NULL
    );
    CREATE INDEX regions_image ON regions (image_id);
    CREATE INDEX regions_tag ON regions (tag_id);
    CREATE TABLE iterations (
        id              TEXT PRIMARY KEY,
        name            TEXT NOT NULL,
        status          TEXT NOT NULL,
        mode            TEXT NOT NULL,
        domain          TEXT NOT NULL,
        kind            TEXT NOT NULL,
        created         TEXT NOT NULL,
        trained_seconds REAL NOT NULL DEFAULT 0,
        settings        TEXT NOT NULL DEFAULT '{}',
        tags            TEXT NOT NULL DEFAULT '[]',
        metrics         TEXT NOT NULL DEFAULT '{}',
        weights         TEXT NOT NULL DEFAULT '',
        published_name  TEXT UNIQUE
    );
    CREATE TABLE iteration_images (
        iteration_id TEXT NOT NULL REFERENCES iterations (id) ON DELETE CASCADE,
        image_id     TEXT NOT NULL,
        split        TEXT NOT NULL,
        truth        TEXT NOT NULL DEFAULT '[]',
        predictions  TEXT,
        PRIMARY KEY (iteration_id, image_id)
    ) WITHOUT ROWID;
    CREATE TABLE predictions (
        id           TEXT PRIMARY KEY,
        iteration_id TEXT NOT NULL,
        sha256       TEXT NOT NULL,
        ext          TEXT NOT NULL,
        width        INTEGER NOT NULL,
        height       INTEGER NOT NULL,
        original_name TEXT NOT NULL DEFAULT '',
        created      TEXT NOT NULL,
        uncertainty  REAL NOT NULL DEFAULT 0,
        predictions  TEXT NOT NULL
    );
    CREATE INDEX predictions_uncertainty ON predictions (uncertainty DESC);
    CREATE TABLE features (
        sha256 TEXT NOT NULL,
        key    TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (sha256, key)
    ) WITHOUT ROWID;
    """,
    # 2: an incremental train/validation split. Each image keeps the tag whose group chose
    # its automatic split and its rank in that group; triggers log every change of tags and
    # overrides, so that after a tag change only the groups it touched are recomputed.
    """
    ALTER TABLE images ADD COLUMN split_group TEXT;
    ALTER TABLE images ADD COLUMN split_rank TEXT;
    CREATE INDEX images_split_group ON images (split_group) WHERE split_group IS NOT NULL;
    CREATE INDEX images_split_rank_missing ON images (id) WHERE split_rank IS NULL;
    CREATE TABLE split_changes (
        image_id TEXT NOT NULL,
        tag_id   TEXT NOT NULL
    );
    CREATE TRIGGER split_tag_added AFTER INSERT ON image_tags BEGIN
        INSERT INTO split_changes (image_id, tag_id) VALUES (NEW.image_id, NEW.tag_id);
    END;
    CREATE TRIGGER split_tag_removed AFTER DELETE ON image_tags BEGIN
        INSERT INTO split_changes (image_id, tag_id) VALUES (OLD.image_id, OLD.tag_id);
    END;
    CREATE TRIGGER split_override_set AFTER UPDATE OF split_override ON images BEGIN
        INSERT INTO split_changes (image_id, tag_id) VALUES (NEW.id, '');
    END;
    """,
    # 3: images per tag, kept by triggers, so that counting 500 tags reads 500 rows; a
    # covering index for ranking a split group again; and the split computed anew
    # (``images.split`` now holds overrides too)
    """
    UPDATE meta SET value = '1' WHERE key = 'split_dirty';
    ALTER TABLE tags ADD COLUMN image_count INTEGER NOT NULL DEFAULT 0;
    UPDATE tags SET image_count = (SELECT COUNT(*) FROM image_tags WHERE tag_id = tags.id);
    CREATE TRIGGER tag_count_up AFTER INSERT ON image_tags BEGIN
        UPDATE tags SET image_count = image_count + 1 WHERE id = NEW.tag_id;
    END;
    CREATE TRIGGER tag_count_down AFTER DELETE ON image_tags BEGIN
        UPDATE tags SET image_count = image_count - 1 WHERE id = OLD.tag_id;
    END;
    DROP INDEX images_split_group;
    CREATE INDEX images_split_group ON images (split_group, split_rank, id, split, split_override)
        WHERE split_group IS NOT NULL;
    """,
    # 4: counts kept by triggers, so that summary() and the counts read a few rows: images
    # in all, tagged, and per split (``counters``); per tag, its images in each split and
    # its boxes. An image's tag links go before its row (so that their triggers still see
    # its split). A whole-project split pass sets the split counts itself, without the
    # per-row trigger (see cvbench.store.repo_split).
    """
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;
    ALTER TABLE tags ADD COLUMN train_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tags ADD COLUMN validation_count INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE tags ADD COLUMN region_count INTEGER NOT NULL DEFAULT 0;
    UPDATE tags SET
        train_count = (SELECT COUNT(*) FROM image_tags it JOIN images i ON i.id = it.image_id
                       WHERE it.tag_id = tags.id AND i.split = 'train'),
        validation_count = (SELECT COUNT(*) FROM image_tags it JOIN images i
                            ON i.id = it.image_id
                            WHERE it.tag_id = tags.id AND i.split = 'validation'),
        region_count = (SELECT COUNT(*) FROM regions WHERE tag_id = tags.id);
    INSERT INTO counters (name, value) VALUES
        ('images', (SELECT COUNT(*) FROM images)),
        ('tagged', (SELECT COUNT(DISTINCT image_id) FROM image_tags)),
        ('train', (SELECT COUNT(*) FROM images WHERE split = 'train')),
        ('validation', (SELECT COUNT(*) FROM images WHERE split = 'validation'));
    CREATE TRIGGER count_image_added AFTER INSERT ON images BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'images';
        UPDATE counters SET value = value + 1 WHERE name = NEW.split;
    END;
    CREATE TRIGGER count_image_removing BEFORE DELETE ON images BEGIN
        DELETE FROM image_tags WHERE image_id = OLD.id;
    END;
    CREATE TRIGGER count_image_removed AFTER DELETE ON images BEGIN
        UPDATE counters SET value = value - 1 WHERE name = 'images';
        UPDATE counters SET value = value - 1 WHERE name = OLD.split;
    END;
    CREATE TRIGGER count_split_changed AFTER UPDATE OF split ON images
    WHEN OLD.split IS NOT NEW.split BEGIN
        UPDATE counters SET value = value - 1 WHERE name = OLD.split;
        UPDATE counters SET value = value + 1 WHERE name = NEW.split;
        UPDATE tags SET
            train_count = train_count + (NEW.split IS 'train') - (OLD.split IS 'train'),
            validation_count = validation_count + (NEW.split IS 'validation')
                - (OLD.split IS 'validation')
        WHERE id IN (SELECT tag_id FROM image_tags WHERE image_id = NEW.id);
    END;
    CREATE TRIGGER count_link_added AFTER INSERT ON image_tags BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'tagged' AND NOT EXISTS (
            SELECT 1 FROM image_tags WHERE image_id = NEW.image_id AND tag_id != NEW.tag_id);
        UPDATE tags SET
            train_count = train_count
                + ((SELECT split FROM images WHERE id = NEW.image_id) IS 'train'),
            validation_count = validation_count
                + ((SELECT split FROM images WHERE id = NEW.image_id) IS 'validation')
        WHERE id = NEW.tag_id;
    END;
    CREATE TRIGGER count_link_removed AFTER DELETE ON image_tags BEGIN
        UPDATE counters SET value = value - 1 WHERE name = 'tagged' AND NOT EXISTS (
            SELECT 1 FROM image_tags WHERE image_id = OLD.image_id);
        UPDATE tags SET
            train_count = train_count
                - ((SELECT split FROM images WHERE id = OLD.image_id) IS 'train'),
            validation_count = validation_count
                - ((SELECT split FROM images WHERE id = OLD.image_id) IS 'validation')
        WHERE id = OLD.tag_id;
    END;
    CREATE TRIGGER count_region_added AFTER INSERT ON regions BEGIN
        UPDATE tags SET region_count = region_count + 1 WHERE id = NEW.tag_id;
    END;
    CREATE TRIGGER count_region_removed AFTER DELETE ON regions BEGIN
        UPDATE tags SET region_count = region_count - 1 WHERE id = OLD.tag_id;
    END;
    CREATE TRIGGER count_region_moved AFTER UPDATE OF tag_id ON regions
    WHEN OLD.tag_id != NEW.tag_id BEGIN
        UPDATE tags SET region_count = region_count - 1 WHERE id = OLD.tag_id;
        UPDATE tags SET region_count = region_count + 1 WHERE id = NEW.tag_id;
    END;
    """,
    # 5: image metadata (key/value pairs, indexed by value for Custom Vision's $filter);
    # training runs recorded from their start (status Training, the owning process, then
    # Completed or Failed with its error); the application label of stored predictions;
    # and the project's revision: one counter that every change a face shows moves (the
    # triggers below: images, their tags, boxes and metadata, tags, iterations, stored
    # predictions, settings), so that a widget polls one row to know it should refresh.
    # Counts and split columns that other triggers keep are left out: they only follow.
    """
    CREATE TABLE image_metadata (
        image_id TEXT NOT NULL REFERENCES images (id) ON DELETE CASCADE,
        key      TEXT NOT NULL,
        value    TEXT NOT NULL,
        PRIMARY KEY (image_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX image_metadata_value ON image_metadata (key, value, image_id);
    ALTER TABLE iterations ADD COLUMN error TEXT;
    ALTER TABLE iterations ADD COLUMN finished TEXT;
    ALTER TABLE iterations ADD COLUMN owner_host TEXT;
    ALTER TABLE iterations ADD COLUMN owner_pid INTEGER;
    ALTER TABLE iterations ADD COLUMN owner_started TEXT;
    CREATE INDEX iterations_running ON iterations (id) WHERE status = 'Training';
    ALTER TABLE predictions ADD COLUMN application TEXT;
    CREATE INDEX predictions_application ON predictions (application, created)
        WHERE application IS NOT NULL;
    INSERT INTO counters (name, value) VALUES ('revision', 0);
    CREATE TRIGGER revision_image_added AFTER INSERT ON images BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_image_removed AFTER DELETE ON images BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_image_split_set AFTER UPDATE OF split_override ON images BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_link_added AFTER INSERT ON image_tags BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_link_removed AFTER DELETE ON image_tags BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_region_added AFTER INSERT ON regions BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_region_removed AFTER DELETE ON regions BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_region_changed AFTER UPDATE ON regions BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_metadata_added AFTER INSERT ON image_metadata BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_metadata_removed AFTER DELETE ON image_metadata BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_metadata_changed AFTER UPDATE ON image_metadata BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_tag_added AFTER INSERT ON tags BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_tag_removed AFTER DELETE ON tags BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_tag_changed AFTER UPDATE OF name, type, description ON tags BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_iteration_added AFTER INSERT ON iterations BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_iteration_removed AFTER DELETE ON iterations BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_iteration_changed AFTER UPDATE ON iterations BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_prediction_added AFTER INSERT ON predictions BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_prediction_removed AFTER DELETE ON predictions BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_setting_added AFTER INSERT ON meta BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_setting_changed AFTER UPDATE ON meta
    WHEN OLD.value IS NOT NEW.value BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    CREATE TRIGGER revision_setting_removed AFTER DELETE ON meta BEGIN
        UPDATE counters SET value = value + 1 WHERE name = 'revision';
    END;
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


def connect(path: str | Path, *, create: bool = False) -> sqlite3.Connection:
    """Open (and migrate) a project database. Autocommit mode; use :func:`transaction`."""
    path = Path(path)
    if not create and not path.exists():
        raise FileNotFoundError(path)
    conn = sqlite3.connect(path, timeout=60.0, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 60000")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":  # pragma: no cover - file systems without shared memory
        conn.execute("PRAGMA journal_mode = DELETE")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA foreign_keys = ON")
    _migrate(conn)
    return conn


def _migrate(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RuntimeError(
            f"this project was written by a newer cvbench (schema {version}, this one knows "
            f"{SCHEMA_VERSION}); upgrade cvbench to open it"
        )
    if version == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
        for i in range(version, SCHEMA_VERSION):
            for statement in _split_sql(MIGRATIONS[i]):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {i + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _split_sql(script: str) -> list[str]:
    """The statements of a script, whole (a trigger's body keeps its semicolons)."""
    statements: list[str] = []
    current = ""
    for piece in script.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if current.strip(" \n\t;"):
                statements.append(current.strip())
            current = ""
    if current.strip(" \n\t;"):
        raise ValueError(f"incomplete SQL statement in a migration: {current.strip()[:80]!r}")
    return statements


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction on a bare connection: ``BEGIN IMMEDIATE`` … ``COMMIT``
    (``ROLLBACK`` on any error). A transaction already open on ``conn`` is an error: code
    that composes writes uses :meth:`cvbench.store.Store.transaction`, which nests them as
    savepoints.
    """
    if conn.in_transaction:
        raise RuntimeError(
            "a transaction is already open on this connection; nest writes with "
            "Store.transaction() (savepoints), never by joining silently"
        )
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
