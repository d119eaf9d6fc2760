"""The local instance's SQLite event log, with its connections kept open instead of made per event.

Dagster's `SqliteEventLogStorage` creates an engine and a connection for every statement and closes
them after (`NullPool`). Closing the last connection of a WAL database checkpoints it, with its
fsyncs, so on this VM every stored event cost ~34 ms at load 4-5 (~100 ms at load 7), and a batch
run stores ~16 events per video (docs/BENCHMARKS.md, "Event storage"). Here each database file keeps
one open engine (the most recently used `MAX_OPEN_DATABASES`), commits use `synchronous=NORMAL`
(WAL's usual setting: a power loss can undo the last commits, never corrupt the file; a killed
process loses nothing committed), and the same event cost ~7 ms. Production instances use PostgreSQL
(deploy/dagster.yaml); this class is what `make run`, `make dev` and the CLI's temporary instance use
(dagster_home/dagster.yaml).

It subclasses Dagster's private `SqliteEventLogStorage` and overrides private parts of it (`_connect`,
`has_table`, and it uses `_initdb`, `_initialized_dbs`, `_db_lock`), as they are in Dagster
`WRITTEN_FOR_DAGSTER`; pyproject.toml pins Dagster to that minor, and a test fails on any other.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from dagster import StringSource
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

WRITTEN_FOR_DAGSTER = "1.13"  # the minor whose private SqliteEventLogStorage this class was written against
MAX_OPEN_DATABASES = 16  # the index, plus the latest runs' files (each run has its own database)
BUSY_TIMEOUT_S = 15  # as Dagster's SQLITE_BUSY_TIMEOUT_SECONDS: the webserver and daemon write too


def event_logs_directory(home: str) -> str:
    """Where Dagster's default SQLite storage keeps the event logs of the instance in `home`."""
    return os.path.join(home, "history", "runs", "")


# What a dagster.yaml (or `DagsterInstance.local_temp(overrides=...)`) names to use this storage.
def instance_overrides(home: str) -> dict[str, Any]:
    return {
        "event_log_storage": {
            "module": __name__,
            "class": OpenSqliteEventLogStorage.__name__,
            "config": {"home": home},
        }
    }


class OpenSqliteEventLogStorage(SqliteEventLogStorage):
    """`SqliteEventLogStorage` in the default folder of the instance `home`, with engines kept open."""

    def __init__(self, home: str, inst_data: Any = None):
        self._home = home
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_pid = os.getpid()
        self._tables_present: set[str] = set()
        super().__init__(event_logs_directory(home), inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"home": StringSource}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: dict[str, Any]) -> OpenSqliteEventLogStorage:
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> Engine:
        if self._engines_pid != os.getpid():  # a forked child must not use its parent's connections
            self._engines = OrderedDict()
            self._engines_pid = os.getpid()
        engine = self._engines.get(shard)
        if engine is not None:
            self._engines.move_to_end(shard)
            return engine
        engine = create_engine(
            self.conn_string_for_shard(shard),
            poolclass=StaticPool,  # one connection per file; `_db_lock` keeps it to one thread at a time
            connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False},
        )
        event.listen(engine, "connect", _normal_sync)
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > MAX_OPEN_DATABASES:
            _, oldest = self._engines.popitem(last=False)
            oldest.dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        with self._db_lock:
            with self._engine(shard).connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        """Whether the index has the table: Dagster asks before many statements, each time with an engine
        of its own (721 calls, 2.6 s under cProfile, in a 20-video run); a table once there stays."""
        if table_name in self._tables_present:
            return True
        present = super().has_table(table_name)
        if present:
            self._tables_present.add(table_name)
        return present

    def close_databases(self) -> None:
        with self._db_lock:
            while self._engines:
                _, engine = self._engines.popitem()
                engine.dispose()

    def wipe(self) -> None:
        self.close_databases()  # the files are deleted: no connection may stay open on them
        super().wipe()

    def dispose(self) -> None:
        self.close_databases()
        super().dispose()


def _normal_sync(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
