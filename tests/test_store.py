
"""cvbench.store.db and cvbench.store.files: the versioned SQLite schema, atomic files."""

from __future__ import annotations

import os
import sqlite3
import threading
import time

import pytest

from cvbench.store import db as store_db
from cvbench.store.files import FileStore, atomic_write, sha256_bytes


def tables(conn: sqlite3.Connection) -> set[str]:
    return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_connect_creates_wal_database_at_the_latest_schema(tmp_path) -> None:
    path = tmp_path / store_db.DB_NAME
    with pytest.raises(FileNotFoundError):
        store_db.connect(path)
    conn = store_db.connect(path, create=True)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_db.SCHEMA_VERSION
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert {"meta", "tags", "images", "image_tags", "regions"} <= tables(conn)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    # opening again runs nothing
    conn = store_db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_db.SCHEMA_VERSION
    conn.close()


def test_migrations_run_in_order_from_any_version(tmp_path, monkeypatch) -> None:
    path = tmp_path / store_db.DB_NAME
    # a database made by an older cvbench: only the first migration ran
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", 1)
    store_db.connect(path, create=True).close()
    monkeypatch.undo()
    extra = "CREATE TABLE later_addition (x INTEGER); CREATE INDEX later_x ON later_addition (x)"
    monkeypatch.setattr(store_db, "MIGRATIONS", [*store_db.MIGRATIONS, extra])
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", len(store_db.MIGRATIONS))
    conn = store_db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(store_db.MIGRATIONS)
    assert "later_addition" in tables(conn)
    conn.close()


def test_failed_migration_leaves_the_database_as_it_was(tmp_path, monkeypatch) -> None:
    path = tmp_path / store_db.DB_NAME
    store_db.connect(path, create=True).close()
    version = store_db.SCHEMA_VERSION
    bad = "CREATE TABLE half_done (x INTEGER); THIS IS NOT SQL"
    monkeypatch.setattr(store_db, "MIGRATIONS", [*store_db.MIGRATIONS, bad])
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", version + 1)
    with pytest.raises(sqlite3.OperationalError):
        store_db.connect(path)
    monkeypatch.undo()
    conn = store_db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == version
    assert "half_done" not in tables(conn)
    conn.close()


def test_a_newer_schema_is_refused_with_advice(tmp_path) -> None:
    path = tmp_path / store_db.DB_NAME
    conn = store_db.connect(path, create=True)
    conn.execute(f"PRAGMA user_version = {store_db.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(RuntimeError, match="newer cvbench"):
        store_db.connect(path)


def test_many_connections_migrate_a_new_database_once(tmp_path) -> None:
    path = tmp_path / store_db.DB_NAME
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            store_db.connect(path, create=True).close()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    conn = store_db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == store_db.SCHEMA_VERSION
    conn.close()


def test_transaction_commits_or_rolls_back_and_nests(tmp_path) -> None:
    conn = store_db.connect(tmp_path / store_db.DB_NAME, create=True)
    with store_db.transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('a', '1')")
        with store_db.transaction(conn):  # joins the outer one
            conn.execute("INSERT INTO meta VALUES ('b', '2')")
        assert conn.in_transaction
    assert not conn.in_transaction
    with pytest.raises(ZeroDivisionError), store_db.transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('c', '3')")
        raise ZeroDivisionError
    keys = {r[0] for r in conn.execute("SELECT key FROM meta")}
    assert keys == {"a", "b"}
    conn.close()


def test_foreign_keys_cascade(tmp_path) -> None:
    conn = store_db.connect(tmp_path / store_db.DB_NAME, create=True)
    with store_db.transaction(conn):
        conn.execute("INSERT INTO tags (id, name, type, created) VALUES ('t', 'cat', 'Regular', '')")
        conn.execute(
            "INSERT INTO images (id, sha256, ext, width, height, bytes, created, seq) "
            "VALUES ('i', 'abc', 'png', 1, 1, 1, 'now', 1)"
        )
        conn.execute("INSERT INTO image_tags VALUES ('i', 't')")
        conn.execute("INSERT INTO regions VALUES ('r', 'i', 't', 0, 0, 1, 1)")
    with store_db.transaction(conn):
        conn.execute("DELETE FROM tags WHERE id = 't'")
    assert conn.execute("SELECT COUNT(*) FROM image_tags").fetchone()[0] == 0
    assert conn.execute("SELECT COUNT(*) FROM regions").fetchone()[0] == 0
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO image_tags VALUES ('i', 'no-such-tag')")
    conn.close()


def test_indexed_queries_use_their_indexes(tmp_path) -> None:
    conn = store_db.connect(tmp_path / store_db.DB_NAME, create=True)

    def plan(sql: str, *args) -> str:
        return " ".join(r[-1] for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))

    assert "image_tags_tag" in plan("SELECT image_id FROM image_tags WHERE tag_id = ?", "t")
    assert "sqlite_autoindex_images" in plan("SELECT id FROM images WHERE sha256 = ?", "x")
    assert "images_split" in plan("SELECT id FROM images WHERE split = ? ORDER BY seq", "train")
    assert "images_seq" in plan("SELECT id FROM images ORDER BY seq DESC LIMIT 10")
    assert "images_split_group" in plan("SELECT id FROM images WHERE split_group IN (?, ?)",
                                        "a", "b")
    assert "images_split_rank_missing" in plan("SELECT id FROM images WHERE split_rank IS NULL")
    conn.close()


def test_migration_scripts_split_into_whole_statements() -> None:
    script = """
    CREATE TABLE a (x TEXT);
    CREATE TRIGGER t AFTER INSERT ON a BEGIN
        INSERT INTO a VALUES ('x;y');  -- a semicolon in a string and in a trigger body
    END;
    INSERT INTO a VALUES (';');
    """
    statements = store_db._split_sql(script)
    assert len(statements) == 3
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")
    with pytest.raises(ValueError, match="incomplete"):
        store_db._split_sql("CREATE TRIGGER t AFTER INSERT ON a BEGIN SELECT 1;")


def test_tag_and_override_changes_are_logged_for_the_split(tmp_path) -> None:
    conn = store_db.connect(tmp_path / store_db.DB_NAME, create=True)
    with store_db.transaction(conn):
        conn.execute("INSERT INTO tags (id, name, type, created) VALUES ('t', 'cat', 'Regular', '')")
        conn.execute(
            "INSERT INTO images (id, sha256, ext, width, height, bytes, created, seq) "
            "VALUES ('i', 'abc', 'png', 1, 1, 1, 'now', 1)"
        )
        conn.execute("INSERT INTO image_tags VALUES ('i', 't')")
        conn.execute("INSERT OR IGNORE INTO image_tags VALUES ('i', 't')")  # no change
        conn.execute("UPDATE images SET split_override = 'train' WHERE id = 'i'")
        conn.execute("UPDATE images SET split = 'train' WHERE id = 'i'")  # not a change
        conn.execute("DELETE FROM tags WHERE id = 't'")  # cascades to image_tags
    log = conn.execute("SELECT image_id, tag_id FROM split_changes ORDER BY rowid").fetchall()
    assert [tuple(r) for r in log] == [("i", "t"), ("i", ""), ("i", "t")]
    conn.close()


# -- files ----------------------------------------------------------------------------------
def test_atomic_write_leaves_no_temporary(tmp_path) -> None:
    target = tmp_path / "a" / "b.bin"
    atomic_write(target, b"hello")
    atomic_write(target, b"again", fsync=True)
    assert target.read_bytes() == b"again"
    assert [p.name for p in target.parent.iterdir()] == ["b.bin"]


def test_atomic_write_failure_keeps_the_old_file(tmp_path, monkeypatch) -> None:
    target = tmp_path / "x.bin"
    atomic_write(target, b"old")

    def fail(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.bin"]


def test_file_store_is_content_addressed(tmp_path) -> None:
    store = FileStore(tmp_path)
    data = b"\x89PNG fake"
    sha = sha256_bytes(data)
    path = store.put_image(sha, "png", data)
    assert path == tmp_path / "images" / sha[:2] / f"{sha}.png"
    assert path.read_bytes() == data
    mtime = path.stat().st_mtime_ns
    assert store.put_image(sha, "png", data) == path  # already there: not rewritten
    assert path.stat().st_mtime_ns == mtime
    thumb = store.put_thumb(sha, b"jpeg")
    assert thumb == tmp_path / "thumbs" / sha[:2] / f"{sha}.jpg"
    store.remove(sha, "png")
    assert not path.exists() and not thumb.exists()
    store.remove(sha, "png")  # twice is fine


def test_sweep_temporaries(tmp_path) -> None:
    store = FileStore(tmp_path)
    store.put_image("ab" + "0" * 62, "png", b"x")
    (tmp_path / "images" / "ab" / ".tmp-dead").write_bytes(b"half")
    (tmp_path / "thumbs" / "cd").mkdir(parents=True)
    (tmp_path / "thumbs" / "cd" / ".tmp-dead").write_bytes(b"half")
    # a young temporary file may belong to a writer at work right now: it stays
    assert store.sweep_temporaries() == 0
    old = time.time() - 7200
    for p in (tmp_path / "images" / "ab" / ".tmp-dead", tmp_path / "thumbs" / "cd" / ".tmp-dead"):
        os.utime(p, (old, old))
    assert store.sweep_temporaries() == 2
    assert store.sweep_temporaries() == 0
    assert (tmp_path / "images" / "ab" / ("ab" + "0" * 62 + ".png")).exists()


def test_tag_counts_are_kept_by_triggers(tmp_path) -> None:
    conn = store_db.connect(tmp_path / store_db.DB_NAME, create=True)

    def count() -> int:
        return conn.execute("SELECT image_count FROM tags WHERE id = 't'").fetchone()[0]

    with store_db.transaction(conn):
        conn.execute("INSERT INTO tags (id, name, type, created) VALUES ('t', 'cat', 'Regular', '')")
        for i in range(3):
            conn.execute(
                "INSERT INTO images (id, sha256, ext, width, height, bytes, created, seq) "
                "VALUES (?, ?, 'png', 1, 1, 1, '', ?)", (f"i{i}", f"sha{i}", i)
            )
            conn.execute("INSERT INTO image_tags VALUES (?, 't')", (f"i{i}",))
        conn.execute("INSERT OR IGNORE INTO image_tags VALUES ('i0', 't')")
    assert count() == 3
    with pytest.raises(sqlite3.IntegrityError), store_db.transaction(conn):
        conn.execute("INSERT INTO image_tags VALUES ('i0', 't')")
    assert count() == 3  # the failed statement counted nothing
    with store_db.transaction(conn):
        conn.execute("DELETE FROM images WHERE id = 'i1'")  # cascades to image_tags
        conn.execute("DELETE FROM image_tags WHERE image_id = 'i2'")
    assert count() == 1
    conn.close()
