"""The job journal: jobs, their items and their events in SQLite (WAL).

Every state change is committed before it is announced, so after a crash
the journal says exactly which items are finished (their WAVs are in place)
and which must run again.  Only the server's main thread uses it.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from typing import Optional

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id        TEXT PRIMARY KEY,
    submit_id TEXT UNIQUE,
    state     TEXT NOT NULL,
    out_dir   TEXT NOT NULL,
    created   REAL NOT NULL,
    finished  REAL,
    error_code TEXT,
    error     TEXT,
    error_item INTEGER
);
CREATE TABLE IF NOT EXISTS items (
    job_id   TEXT NOT NULL REFERENCES jobs(id),
    idx      INTEGER NOT NULL,
    spec     TEXT NOT NULL,
    state    TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    result   TEXT,
    PRIMARY KEY (job_id, idx)
);
CREATE TABLE IF NOT EXISTS events (
    job_id  TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    type    TEXT NOT NULL,
    content TEXT NOT NULL,
    PRIMARY KEY (job_id, seq)
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created);
"""

UNFINISHED = ("queued", "running")


def unwritable(path: str, exc: Exception) -> str:
    """One line for a journal write that failed (a full disk, mostly): what happened and what the engine does."""
    why = str(exc).strip() or type(exc).__name__
    return (f"the engine cannot write its journal {path} ({why}); it takes no new jobs until there is room "
            f"(free some disk space there)")


def _private_file(path: str) -> None:
    """The journal holds media paths and prompts: owner-only, like the connection file.

    The file is created 0600 before SQLite opens it (SQLite gives its -wal and
    -shm files the database file's mode), a folder it has to create is 0700, and
    an existing journal (and its -wal/-shm) left readable by an older version is tightened.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder, mode=0o700, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for p in (path, path + "-wal", path + "-shm"):
        try:
            if os.stat(p).st_mode & 0o077:
                os.chmod(p, 0o600)
        except FileNotFoundError:
            pass


class Journal:
    def __init__(self, path: str):
        self.path = path
        _private_file(path)
        self.db = sqlite3.connect(path, isolation_level=None, timeout=10)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a killed process; only power loss can drop the last commit.
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)
        #: (job, item) -> end sample of the spans announced so far (loaded from events on first use)
        self._span_ends: dict[tuple[str, int], int] = {}

    def close(self) -> None:
        self.db.close()

    def _tx(self):
        return _Transaction(self.db)

    # -------------------------------------------------------------- writes

    def add_job(self, job_id: str, submit_id: str, out_dir: str, specs: list[dict]) -> None:
        with self._tx():
            self.db.execute(
                "INSERT INTO jobs (id, submit_id, state, out_dir, created) VALUES (?, ?, 'queued', ?, ?)",
                (job_id, submit_id or None, out_dir, time.time()),
            )
            self.db.executemany(
                "INSERT INTO items (job_id, idx, spec, state) VALUES (?, ?, ?, 'queued')",
                [(job_id, i, json.dumps(spec)) for i, spec in enumerate(specs)],
            )

    def recover(self) -> list[str]:
        """After a restart: running work goes back to the queue; returns unfinished job ids, oldest first."""
        with self._tx():
            #: items a crash interrupted: they run again, and clients are told so
            self.interrupted = [(r["job_id"], r["idx"], r["attempts"]) for r in self.db.execute(
                "SELECT job_id, idx, attempts FROM items WHERE state='running' ORDER BY job_id, idx")]
            self.db.execute("UPDATE items SET state='queued' WHERE state='running'")
            self.db.execute("UPDATE jobs SET state='queued' WHERE state='running'")
        rows = self.db.execute("SELECT id FROM jobs WHERE state='queued' ORDER BY created, rowid").fetchall()
        return [r["id"] for r in rows]

    def set_job_state(self, job_id: str, state: str, *, error_code: Optional[str] = None,
                      error: Optional[str] = None, error_item: Optional[int] = None) -> None:
        finished = time.time() if state in ("done", "failed", "cancelled") else None
        with self._tx():
            self.db.execute(
                "UPDATE jobs SET state=?, finished=?, error_code=?, error=?, error_item=? WHERE id=?",
                (state, finished, error_code, error, error_item, job_id),
            )
            if state in ("failed", "cancelled"):
                self.db.execute("UPDATE items SET state=? WHERE job_id=? AND state!='done'", (state, job_id))
        if finished is not None:
            for key in [k for k in self._span_ends if k[0] == job_id]:
                del self._span_ends[key]

    def item_started(self, job_id: str, idx: int) -> int:
        """Marks the item running; returns its attempt number (1 for the first run)."""
        with self._tx():
            self.db.execute("UPDATE jobs SET state='running' WHERE id=? AND state='queued'", (job_id,))
            self.db.execute(
                "UPDATE items SET state='running', attempts=attempts+1 WHERE job_id=? AND idx=?", (job_id, idx)
            )
        return self.item_attempts(job_id, idx)

    def item_requeued(self, job_id: str, idx: int) -> None:
        self.db.execute("UPDATE items SET state='queued' WHERE job_id=? AND idx=?", (job_id, idx))

    def item_done(self, job_id: str, idx: int, result: dict) -> None:
        self.db.execute(
            "UPDATE items SET state='done', result=? WHERE job_id=? AND idx=?", (json.dumps(result), job_id, idx)
        )

    def add_event(self, job_id: str, msg_type: str, content: dict) -> int:
        with self._tx():
            row = self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM events WHERE job_id=?", (job_id,)).fetchone()
            seq = row[0] + 1
            content = dict(content, seq=seq)
            self.db.execute(
                "INSERT INTO events (job_id, seq, type, content) VALUES (?, ?, ?, ?)",
                (job_id, seq, msg_type, json.dumps(content)),
            )
        if msg_type == "span" and isinstance(content.get("item"), int) and "num_samples" in content:
            key = (job_id, content["item"])
            self._span_ends[key] = max(self.span_end(*key), content["start_sample"] + content["num_samples"])
        return seq

    # -------------------------------------------------------------- reads

    def span_end(self, job_id: str, idx: int) -> int:
        """The end sample of the spans of an item already announced (0 if none): a re-run after a crash
        produces the same windows, and those a client has are not sent again."""
        cached = self._span_ends.get((job_id, idx))
        if cached is not None:
            return cached
        row = self.db.execute(
            "SELECT MAX(json_extract(content, '$.start_sample') + json_extract(content, '$.num_samples')) "
            "FROM events WHERE job_id=? AND type='span' AND json_extract(content, '$.item')=?", (job_id, idx),
        ).fetchone()
        end = (row[0] or 0) if row else 0
        self._span_ends[(job_id, idx)] = end
        return end

    def job_by_submit_id(self, submit_id: str) -> Optional[str]:
        row = self.db.execute("SELECT id FROM jobs WHERE submit_id=?", (submit_id,)).fetchone()
        return row["id"] if row else None

    def job_state(self, job_id: str) -> Optional[str]:
        row = self.db.execute("SELECT state FROM jobs WHERE id=?", (job_id,)).fetchone()
        return row["state"] if row else None

    def pending_items(self, job_id: str) -> list[tuple[int, dict]]:
        rows = self.db.execute(
            "SELECT idx, spec FROM items WHERE job_id=? AND state IN ('queued','running') ORDER BY idx", (job_id,)
        ).fetchall()
        return [(r["idx"], json.loads(r["spec"])) for r in rows]

    def item_spec(self, job_id: str, idx: int) -> dict:
        row = self.db.execute("SELECT spec FROM items WHERE job_id=? AND idx=?", (job_id, idx)).fetchone()
        return json.loads(row["spec"])

    def item_attempts(self, job_id: str, idx: int) -> int:
        return self.db.execute("SELECT attempts FROM items WHERE job_id=? AND idx=?", (job_id, idx)).fetchone()[0]

    def item_count(self, job_id: str) -> int:
        return self.db.execute("SELECT COUNT(*) FROM items WHERE job_id=?", (job_id,)).fetchone()[0]

    def results(self, job_id: str) -> list[dict]:
        rows = self.db.execute(
            "SELECT result FROM items WHERE job_id=? AND state='done' ORDER BY idx", (job_id,)
        ).fetchall()
        return [json.loads(r["result"]) for r in rows]

    def events_since(self, job_id: str, since: int) -> list[tuple[str, dict]]:
        rows = self.db.execute(
            "SELECT type, content FROM events WHERE job_id=? AND seq>? ORDER BY seq", (job_id, since)
        ).fetchall()
        return [(r["type"], json.loads(r["content"])) for r in rows]

    def job(self, job_id: str) -> Optional[dict]:
        row = self.db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        if row is None:
            return None
        items = []
        for r in self.db.execute("SELECT * FROM items WHERE job_id=? ORDER BY idx", (job_id,)):
            items.append({
                "index": r["idx"], "state": r["state"], "attempts": r["attempts"],
                "spec": json.loads(r["spec"]), "result": json.loads(r["result"]) if r["result"] else None,
            })
        return dict(self._summary(row), items=items)

    def jobs(self, limit: int = 100, state: str = "") -> list[dict]:
        if state:
            rows = self.db.execute(
                "SELECT * FROM jobs WHERE state=? ORDER BY created DESC, rowid DESC LIMIT ?", (state, limit)
            )
        else:
            rows = self.db.execute("SELECT * FROM jobs ORDER BY created DESC, rowid DESC LIMIT ?", (limit,))
        return [self._summary(r) for r in rows.fetchall()]

    def _summary(self, row: sqlite3.Row) -> dict:
        counts = dict(self.db.execute(
            "SELECT state, COUNT(*) FROM items WHERE job_id=? GROUP BY state", (row["id"],)
        ).fetchall())
        return {
            "job_id": row["id"], "state": row["state"], "out_dir": row["out_dir"],
            "created": row["created"], "finished": row["finished"],
            "items": sum(counts.values()), "items_done": counts.get("done", 0),
            "error": {"code": row["error_code"], "message": row["error"], "item": row["error_item"]}
            if row["error_code"] else None,
        }

    def counts(self) -> dict[str, int]:
        rows = self.db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        return {state: dict(rows).get(state, 0) for state in ("queued", "running", "done", "failed", "cancelled")}


class _Transaction:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb):
        self.db.execute("COMMIT" if exc_type is None else "ROLLBACK")
