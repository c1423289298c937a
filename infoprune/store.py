"""The results store of one run folder: a file per finished cell, the results table, the manifest, a lock.

A cell's file is written atomically when the cell is done, so a run killed at any moment leaves only
whole cells behind, and re-running the same command skips them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path

import pandas as pd

from .atomic import atomic_write_bytes, atomic_write_json, atomic_write_text
from .errors import UserError

FULL = "full"  # the criterion label of the unpruned baseline cell
RESULT_COLUMNS = ["criterion", "ratio", "seed", "metric", "value"]


class RunStore:
    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        try:
            (self.out / "cells").mkdir(parents=True, exist_ok=True)
            fd, probe = tempfile.mkstemp(dir=self.out, prefix=".write-test.")  # unique: runs may start together
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise UserError(f"cannot write to output folder {self.out}: {exc.strerror or exc}") from None

    # -- cells -------------------------------------------------------------------------------
    def cell_path(self, key: str) -> Path:
        return self.out / "cells" / f"{key}.json"

    def load_cell(self, key: str, log=print) -> dict | None:
        """A finished cell, or None when missing; one whose checksum fails is recomputed, with a warning."""
        path = self.cell_path(key)
        if not path.exists():
            return None
        try:
            record = json.loads(path.read_text())
            if record.get("key") == key and record.get("sha256") == _checksum(record):
                return record
            if record.get("key") == key and "sha256" not in record:
                log(f"warning: {path} has no checksum (written before cells carried one); that cell will be "
                    "recomputed")
                return None
        except (OSError, ValueError, AttributeError):
            pass
        log(f"warning: {path} is corrupt or incomplete; that cell will be recomputed")
        return None

    def write_cell(self, record: dict) -> None:
        atomic_write_json(self.cell_path(record["key"]), record | {"sha256": _checksum(record)})

    def write_failure(self, key: str, record: dict) -> None:
        atomic_write_json(self.out / "cells" / f"{key}.failed.json", record)

    def clear_failure(self, key: str) -> None:
        (self.out / "cells" / f"{key}.failed.json").unlink(missing_ok=True)

    # -- tables ------------------------------------------------------------------------------
    def write_results(self, records: list[dict]) -> pd.DataFrame:
        rows = [
            {"criterion": r["criterion"], "ratio": r["ratio"], "seed": r["seed"], "metric": m, "value": v}
            for r in records
            for m, v in sorted(r["metrics"].items())
        ]
        frame = pd.DataFrame(rows, columns=RESULT_COLUMNS).sort_values(["criterion", "ratio", "seed", "metric"])
        atomic_write_text(self.out / "results.csv", frame.to_csv(index=False))
        return frame

    POOL_TABLES = ("pool.parquet", "scores.parquet", "terms.parquet")

    def has_pool_tables(self) -> bool:
        return all((self.out / name).exists() for name in self.POOL_TABLES)

    def write_pool_tables(self, pool: pd.DataFrame, scores: pd.DataFrame, terms: pd.DataFrame) -> None:
        """`pool.parquet` (the pool in pool order, which `kept_mask` of every cell follows), `scores.parquet`
        and `terms.parquet` (the terms of summed scores, `criterion/term` columns)."""
        for name, frame in zip(self.POOL_TABLES, (pool, scores, terms)):
            atomic_write_bytes(self.out / name, frame.to_parquet(index=False))

    def read_manifest(self) -> dict:
        try:
            return json.loads((self.out / "manifest.json").read_text())
        except (OSError, ValueError):
            return {}

    def write_manifest(self, manifest: dict) -> None:
        atomic_write_json(self.out / "manifest.json", manifest)

    # -- one run at a time per folder ----------------------------------------------------------
    def lock(self) -> "RunLock":
        return RunLock(self.out / ".lock")


class RunLock:
    """An exclusive `flock` on a pid file. The kernel drops it when the process dies, however it dies, so a
    lock left by a dead run is simply free; two runs taking it at once cannot both win."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> "RunLock":
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                pid = _read_pid(self.path)
                who = f"pid {pid}" if pid is not None else "another process"
                raise UserError(
                    f"another run ({who}) is using {self.path.parent}; wait for it or choose another --out"
                ) from None
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:  # else the holder removed this file as it finished: lock the new one instead
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        self.path.unlink(missing_ok=True)
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def _checksum(record: dict) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None
