"""An engine whose journal's disk fills on demand (tests only): ``python tests/journal_full.py <serve args>``.

SIGUSR1: from now on every journal write fails the way SQLite fails on a full disk
(``sqlite3.OperationalError: database or disk is full``, raised for INSERT/UPDATE/DELETE;
reads, BEGIN and ROLLBACK still work, as they do on a real full disk).  SIGUSR2: there is room again.

Injected rather than a real tiny filesystem so the test runs anywhere without mount rights; the
engine sees the same exception type and message as from SQLite's own SQLITE_FULL.
"""
import signal
import sqlite3
import sys

from foley_engine.engine import journal as journal_module
from foley_engine.engine import server

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
full = False


class FillableConnection:
    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def _check(self, sql: str) -> None:
        if full and sql.lstrip().split(None, 1)[0].upper() in WRITES:
            raise sqlite3.OperationalError("database or disk is full")

    def execute(self, sql, *args):
        self._check(sql)
        return self._db.execute(sql, *args)

    def executemany(self, sql, *args):
        self._check(sql)
        return self._db.executemany(sql, *args)

    def __getattr__(self, name):
        return getattr(self._db, name)


class FillableJournal(journal_module.Journal):
    def __init__(self, path: str):
        super().__init__(path)
        self.db = FillableConnection(self.db)


def _set(value: bool):
    def handler(*_):
        global full
        full = value
    return handler


if __name__ == "__main__":
    server.Journal = FillableJournal
    signal.signal(signal.SIGUSR1, _set(True))
    signal.signal(signal.SIGUSR2, _set(False))
    sys.exit(server.main(sys.argv[1:]))
