"""Write files so that a reader never sees half of one: temp file in the same folder, fsync, rename."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_file(path: Path, mode: str = "wb"):
    """A file written through the handle this yields, then fsynced and renamed into place: whole or absent."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private; a cache or result is an ordinary file, so honour the umask.
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sha256_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".sha256")


NO_CHECKSUM = "has no checksum (written before cache entries carried one)"
BAD_CHECKSUM = "fails its checksum (corrupt)"


def write_checked(path: Path, data: bytes) -> None:
    """A cache entry and, beside it, its sha256.

    The checksum goes first and the data last, each by an atomic rename. So a reader, or another
    process writing the same entry, never sees the data of a half-written entry: a crash in between
    leaves a checksum without data, which reads as no entry. Data without a checksum can then only be an
    entry written before checksums existed, and `read_entry` says exactly that.
    """
    atomic_write_text(sha256_path(path), hashlib.sha256(data).hexdigest() + "\n")
    atomic_write_bytes(path, data)


def read_entry(path: Path) -> tuple[bytes | None, str | None]:
    """(bytes, None) for a cache entry written by `write_checked` that verifies; (None, None) when there
    is no entry; (None, why) when a file is there that cannot be trusted: NO_CHECKSUM or BAD_CHECKSUM."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        return None, f"is unreadable ({exc.strerror or exc})"
    try:
        expected = sha256_path(path).read_text().strip()
    except OSError:
        return None, NO_CHECKSUM
    if hashlib.sha256(data).hexdigest() != expected:
        return None, BAD_CHECKSUM
    return data, None


def read_checked(path: Path) -> bytes | None:
    """The bytes of a cache entry written by `write_checked`, or None if absent or untrustworthy."""
    return read_entry(path)[0]


def write_npy(path: Path, array) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_checked(path, buf.getvalue())


def read_npy(path: Path, log, what: str):
    """A checked array, or None (with a warning that says why when a file was there but is not trusted)."""
    import numpy as np

    data, problem = read_entry(path)
    if data is None:
        if problem:
            log(f"warning: {what} cache {path} {problem}; recomputing")
        return None
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:  # verified bytes that are no array: written by something else under this name
        log(f"warning: {what} cache {path} is not an array ({exc}); recomputing")
        return None


def meta_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".meta.json")


def write_meta(path: Path, meta: dict) -> None:
    """Facts about a cache entry that are not its content (what it cost, and where), beside it."""
    atomic_write_json(meta_path(path), meta)


def read_meta(path: Path) -> dict:
    """The facts `write_meta` wrote beside an entry; {} when there are none or they are unreadable."""
    try:
        meta = json.loads(meta_path(path).read_text())
    except (OSError, ValueError):
        return {}
    return meta if isinstance(meta, dict) else {}
