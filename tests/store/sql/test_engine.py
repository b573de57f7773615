"""SQLite engine settings that the store's speed depends on: WAL checkpoints off the commit path."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from runbase.entities import Param
from runbase.store.sql import SqlStore

_WAL_BYTES = 8 << 20  # 2,000 pages: past SQLite's inline checkpoint, short of the store's


def _checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "runbase-checkpoint"]


def _has_param(path: Path, copy: Path, key: str) -> bool:
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT count(*) FROM params WHERE key = ?", (key,)).fetchone()[0] == 1
    except sqlite3.DatabaseError:  # copied while the checkpoint wrote: torn, try again
        return False
    finally:
        conn.close()


def test_wal_is_checkpointed_by_a_thread_not_by_the_commits(tmp_path: Path) -> None:
    path = tmp_path / "runbase.db"
    store = SqlStore(f"sqlite:///{path}")
    try:
        wal = Path(f"{path}-wal")
        run = store.create_run("0", run_name="wide")
        written = 0
        while wal.stat().st_size < _WAL_BYTES:
            # Each commit dirties pages all over the params' indexes, as a sweep's runs do.
            params = [Param(f"p{written}_{k:03d}", "x" * 200) for k in range(50)]
            store.log_columns(run.info.run_id, params=params)
            written += 1
        assert _checkpoint_threads(), "commits started no checkpoint thread"
        # No commit checkpoints this little, so only the thread brings the writes into the
        # database file: a copy of the file alone, without the WAL, holds them all.
        last = f"p{written - 1}_049"
        copy = tmp_path / "copy.db"
        deadline = time.monotonic() + 10
        while not _has_param(path, copy, last) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _has_param(path, copy, last)
    finally:
        store.close()


def test_closing_the_store_leaves_a_database_file_that_holds_everything(tmp_path: Path) -> None:
    """The checkpoint thread's connection closes first, so the store's last one removes the WAL
    (a copied ``runbase.db`` without its ``-wal`` is complete)."""
    path = tmp_path / "runbase.db"
    store = SqlStore(f"sqlite:///{path}")
    run = store.create_run("0", run_name="closed")
    store.log_columns(run.info.run_id, params=[Param("lr", "0.1")])
    deadline = time.monotonic() + 10
    while not _checkpoint_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the thread has checkpointed once: its connection holds the WAL open
    store.close()
    assert not Path(f"{path}-wal").exists()
    assert _has_param(path, tmp_path / "copy.db", "lr")


def test_a_program_that_never_closes_its_store_leaves_no_wal(tmp_path: Path) -> None:
    path = tmp_path / "runbase.db"
    script = (
        "import sys, time\n"
        "from runbase.entities import Param\n"
        "from runbase.store.sql import SqlStore\n"
        "store = SqlStore(f'sqlite:///{sys.argv[1]}')\n"
        "run = store.create_run('0', run_name='unclosed')\n"
        "store.log_columns(run.info.run_id, params=[Param('lr', '0.1')])\n"
        "time.sleep(0.3)  # the checkpoint thread has run and holds a connection\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=60)
    assert not Path(f"{path}-wal").exists()
    assert _has_param(path, tmp_path / "copy.db", "lr")
