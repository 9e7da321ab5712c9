
"""cvbench.store.db and cvbench.store.files: the versioned SQLite schema, atomic files."""

from __future__ import annotations

import os
import re
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


def test_transaction_commits_or_rolls_back_and_refuses_to_join(tmp_path) -> None:
    conn = store_db.connect(tmp_path / store_db.DB_NAME, create=True)
    with store_db.transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('a', '1')")
        with pytest.raises(RuntimeError, match="already open"):  # never a silent join
            with store_db.transaction(conn):
                conn.execute("INSERT INTO meta VALUES ('b', '2')")  # pragma: no cover
        assert conn.in_transaction
    assert not conn.in_transaction
    with pytest.raises(ZeroDivisionError), store_db.transaction(conn):
        conn.execute("INSERT INTO meta VALUES ('c', '3')")
        raise ZeroDivisionError
    keys = {r[0] for r in conn.execute("SELECT key FROM meta")}
    assert keys == {"a"}
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
    # the split's upkeep: a group's boundary, then a range of it, from the covering index
    assert "COVERING INDEX images_split_group (split_group=? AND (split_rank,id)>(?,?))" in plan(
        "UPDATE images SET split = 'train' WHERE split_group = ? AND (split_rank, id) > (?, ?) "
        "AND split_override IS NULL AND split IS NOT 'train'", "g", "r", "i")
    assert "COVERING INDEX images_split_group" in plan(
        "SELECT split_rank, id FROM images WHERE split_group = ? ORDER BY split_rank, id "
        "LIMIT 1 OFFSET ?", "g", 5)
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


# -- the Store: transactions, threads, counts ---------------------------------------------------
def _store(tmp_path):
    from cvbench.store import Store

    return Store.create(tmp_path / "s", {"split_seed": "0", "validation_fraction": "0.2",
                                         "split_dirty": "0", "seq": "0"})


def _add_image(store, i: int, tags=()) -> str:
    from cvbench.store.repo_images import NewImage

    image_id = f"img{i}"
    store.images.insert(NewImage(image_id, f"sha{i}", "png", 1, 1, 1, "", "", i + 1))
    store.images.link(image_id, list(tags))
    return image_id


def test_store_transactions_nest_as_savepoints(tmp_path) -> None:
    store = _store(tmp_path)
    with store.transaction():
        store.meta.set("a", "1")
        with pytest.raises(ZeroDivisionError), store.transaction():
            store.meta.set("b", "2")
            raise ZeroDivisionError  # undoes the inner block only
        with store.transaction():
            store.meta.set("c", "3")
        assert store.in_transaction
    assert not store.in_transaction
    meta = store.meta.all()
    assert meta["a"] == "1" and meta["c"] == "3" and "b" not in meta
    with pytest.raises(RuntimeError, match="outside a transaction"):
        store.meta.set("d", "4")
    assert store.meta.get("d") is None
    store.close()


def test_store_is_safe_across_threads(tmp_path) -> None:
    store = _store(tmp_path)
    with store.transaction():
        tags = [store.tags.insert(f"t{k}", "Regular").id for k in range(4)]
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(k * 100, k * 100 + 100):
                with store.transaction():
                    _add_image(store, i, [tags[i % 4]])
                    store.split.update()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(200):
                with store.lock:  # one view: never half of another thread's transaction
                    assert store.images.count_tagged() == store.images.count()
                store.tags.counts()
                store.images.load(store.images.page_ids(take=5))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.images.count() == 300 and store.images.count_tagged() == 300
    assert sum(store.tags.counts().values()) == 300
    store.close()


def test_counts_are_kept_by_triggers_through_every_change(tmp_path) -> None:
    store = _store(tmp_path)
    sql = store.sql
    with store.transaction():
        a, b = store.tags.insert("a", "Regular").id, store.tags.insert("b", "Regular").id
        ids = [_add_image(store, i, [a] if i % 3 else [a, b]) for i in range(30)]
        _add_image(store, 99)  # untagged
        store.split.update()

    def check() -> None:
        counters = {r[0]: r[1] for r in sql.rows("SELECT name, value FROM counters")}
        assert counters["images"] == sql.value("SELECT COUNT(*) FROM images")
        assert counters["tagged"] == sql.value("SELECT COUNT(DISTINCT image_id) FROM image_tags")
        for split in ("train", "validation"):
            assert counters[split] == sql.value(
                "SELECT COUNT(*) FROM images WHERE split = ?", (split,))
        for t in store.tags.stats():
            assert t.images == sql.value(
                "SELECT COUNT(*) FROM image_tags WHERE tag_id = ?", (t.id,))
            assert (t.train, t.validation) == tuple(sql.value(
                "SELECT COUNT(*) FROM image_tags it JOIN images i ON i.id = it.image_id "
                "WHERE it.tag_id = ? AND i.split = ?", (t.id, s)) for s in ("train", "validation"))
            assert t.regions == sql.value("SELECT COUNT(*) FROM regions WHERE tag_id = ?", (t.id,))

    check()
    from cvbench.boxes import Box

    with store.transaction():
        store.regions.replace(ids[0], [(b, Box(0, 0, 0.5, 0.5)), (a, Box(0.5, 0.5, 0.5, 0.5))])
        store.images.unlink(ids[1])
        store.images.set_override(ids[2:6], "validation")
        store.split.update()
    check()
    with store.transaction():  # raw deletes cascade: the counts follow
        sql.write("DELETE FROM images WHERE id IN (?, ?)", (ids[0], ids[3]))
        sql.write("UPDATE regions SET tag_id = ? WHERE tag_id = ?", (a, b))
        store.tags.merge(b, a)
        store.split.update()
    check()
    with store.transaction():  # a whole-project pass sets the counts itself
        store.meta.set("split_basis", "[]")
        store.split.update()
    check()
    names = {r[0] for r in sql.rows("SELECT name FROM sqlite_master")}
    assert {"count_split_changed", "images_split", "images_split_group",
            "images_split_rank_missing"} <= names  # paused for the pass, then back
    store.close()


def test_a_version_three_database_gets_its_counts(tmp_path, monkeypatch) -> None:
    path = tmp_path / store_db.DB_NAME
    monkeypatch.setattr(store_db, "SCHEMA_VERSION", 3)
    conn = store_db.connect(path, create=True)
    monkeypatch.undo()
    with store_db.transaction(conn):
        conn.execute("INSERT INTO tags (id, name, type, created) VALUES ('t', 'cat', 'Regular', '')")
        for i in range(5):
            conn.execute(
                "INSERT INTO images (id, sha256, ext, width, height, bytes, created, seq, split) "
                "VALUES (?, ?, 'png', 1, 1, 1, '', ?, ?)",
                (f"i{i}", f"sha{i}", i, "validation" if i == 0 else "train"))
            if i < 4:
                conn.execute("INSERT INTO image_tags VALUES (?, 't')", (f"i{i}",))
        conn.execute("INSERT INTO regions VALUES ('r', 'i0', 't', 0, 0, 1, 1)")
    conn.close()
    conn = store_db.connect(path)
    counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
    assert counters == {"images": 5, "tagged": 4, "train": 4, "validation": 1,
                        "revision": 0}  # migration 5 starts the change counter
    row = conn.execute("SELECT image_count, train_count, validation_count, region_count "
                       "FROM tags").fetchone()
    assert tuple(row) == (4, 3, 1, 1)
    conn.close()


# -- migration 5: the revision counter, metadata, training runs -------------------------------
def test_the_revision_moves_on_every_change_and_not_on_reads(tmp_path) -> None:
    from cvbench.boxes import Box

    store = _store(tmp_path)
    seen = [store.revision()]

    def moved() -> bool:
        seen.append(store.revision())
        return seen[-1] != seen[-2]

    with store.transaction():
        tag = store.tags.insert("cat", "Regular")
    assert moved()
    with store.transaction():
        image = _add_image(store, 1)
    assert moved()
    for change in (
        lambda: store.images.link(image, [tag.id]),
        lambda: store.images.unlink(image, [tag.id]),
        lambda: store.regions.add(image, [(tag.id, Box(0.1, 0.1, 0.2, 0.2))]),
        lambda: store.regions.remove(image),
        lambda: store.metadata.merge([image], {"camera": "a"}),
        lambda: store.metadata.merge([image], {"camera": "b"}),
        lambda: store.metadata.merge([image], {"camera": None}),
        lambda: store.tags.rename(tag.id, "kitten"),
        lambda: store.tags.update(tag.id, name="kitten", description="small", type="Regular"),
        lambda: store.images.set_override([image], "validation"),
        lambda: store.meta.set("name", "renamed"),
        lambda: store.images.delete([image]),
        lambda: store.tags.delete(tag.id),
    ):
        with store.transaction():
            change()
        assert moved()
    # no change, no move: reads, an unchanged setting, a rolled-back write
    store.tags.all(), store.images.count(), store.images.page_ids(), store.meta.all()
    with store.transaction():
        store.meta.set("name", "renamed")
    with pytest.raises(ZeroDivisionError), store.transaction():
        store.meta.set("name", "other")
        raise ZeroDivisionError
    assert not moved()
    store.close()


def test_metadata_filter_is_evaluated_on_its_index(tmp_path) -> None:
    from cvbench.store._filter import compile_filter

    store = _store(tmp_path)
    with store.transaction():
        ids = [_add_image(store, i) for i in range(6)]
        store.metadata.merge(ids[:3], {"camera": "a"})
        store.metadata.merge(ids[2:5], {"site": "it's"})
    assert store.metadata.of([ids[2]]) == {ids[2]: {"camera": "a", "site": "it's"}}
    assert store.metadata.matching("camera eq 'a'") == set(ids[:3])
    assert store.metadata.matching("camera ne 'a'") == set(ids[3:])  # no key: not equal
    assert store.metadata.matching("camera eq 'a' and site eq 'it''s'") == {ids[2]}
    assert store.metadata.matching("camera EQ 'a' OR site eq 'it''s'") == set(ids[:5])
    assert store.metadata.matching("(camera eq 'b' or camera eq 'a') and not_there ne 'x'") \
        == set(ids[:3])
    assert store.metadata.matching("Camera eq 'a'") == set()  # keys and values are exact
    for bad, says in [("", "empty"), ("camera", "eq or ne"), ("camera eq a", "quoted value"),
                      ("camera eq 'a", "unclosed quote"), ("(camera eq 'a'", "')'"),
                      ("camera eq 'a' x", "'and', 'or'"), ("and eq 'a'", "a metadata key")]:
        with pytest.raises(ValueError, match=re.escape(says)):
            compile_filter(bad)
    sql, params = compile_filter("camera eq 'a'")
    plan = " ".join(r[-1] for r in store.sql.rows(
        f"EXPLAIN QUERY PLAN SELECT i.id FROM images i WHERE {sql}", params))
    assert "image_metadata_value" in plan
    with store.transaction():
        store.images.delete([ids[0]])  # its pairs go with it
    assert store.metadata.of([ids[0]]) == {}
    store.close()


def test_boxes_added_and_deleted_by_id_keep_the_others_and_the_tags(tmp_path) -> None:
    from cvbench.boxes import Box

    store = _store(tmp_path)
    with store.transaction():
        a, b = store.tags.insert("a", "Regular"), store.tags.insert("b", "Regular")
        image = _add_image(store, 1)
        store.regions.replace(image, [(a.id, Box(0, 0, 0.5, 0.5))])
    (first,) = [r.id for r in store.images.load([image])[0].regions]
    with store.transaction():
        new = store.regions.add(image, [(b.id, Box(0.5, 0.5, 0.5, 0.5)),
                                        (a.id, Box(0.1, 0.1, 0.2, 0.2))])
    loaded = store.images.load([image])[0]
    assert [r.id for r in loaded.regions] == [first, *new]
    assert set(loaded.tag_ids) == {a.id, b.id}
    with store.transaction():
        assert store.regions.delete([new[0], "no such box"]) == [image]
    loaded = store.images.load([image])[0]
    assert [r.id for r in loaded.regions] == [first, new[1]] and loaded.tag_ids == (a.id,)
    assert [t.regions for t in store.tags.stats()] == [2, 0]
    store.close()


def test_a_training_run_is_recorded_from_start_to_end(tmp_path) -> None:
    import subprocess
    import sys

    from cvbench.store import Owner, is_alive, this_process
    from cvbench.store.repo_iterations import IterationRow

    store = _store(tmp_path)

    def row(i: str) -> IterationRow:
        return IterationRow(i, "", "Training", "quick", "d", "multiclass", "t", 0.0, "{}", "[]",
                            "{}", "", None)

    me = this_process()
    assert is_alive(me) and me.started
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = Owner(me.host, gone.pid, me.started)
    assert not is_alive(dead) and not is_alive(Owner(me.host, me.pid, "another start"))
    assert store.iterations.begin(row("r1"), me) == "Iteration 1"
    assert store.iterations.begin(row("r2"), dead) == "Iteration 2"
    assert sorted(store.iterations.running()) == [("r1", me), ("r2", dead)]
    assert store.iterations.complete("r1", trained_seconds=1.5, settings="{}", tags="[]",
                                     metrics="{}", weights="w", finished="end",
                                     images=[("img", "train", "[]", None)])
    assert not store.iterations.complete("r1", trained_seconds=1, settings="{}", tags="[]",
                                         metrics="{}", weights="w", finished="end", images=[])
    assert store.iterations.fail("r2", "gone", "end") and not store.iterations.fail("r2", "x", "")
    done, failed = store.iterations.get("r1"), store.iterations.get("r2")
    assert (done.status, done.weights, done.finished) == ("Completed", "w", "end")
    assert (failed.status, failed.error) == ("Failed", "gone")
    assert store.iterations.running() == [] and store.iterations.split_of("r1") == {"img": "train"}
    assert [r.id for r in store.iterations.all("Completed")] == ["r1"]
    store.iterations.rename("r2", "second")
    with pytest.raises(Exception, match="already named"):
        store.iterations.rename("r1", "second")
    store.close()
