"""Write files so that a reader never sees half of one: temp file in the same folder, fsync, rename."""

from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from pathlib import Path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private; a cache or result is an ordinary file, so honour the umask.
        umask = os.umask(0o022)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: Path, obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def sha256_path(path: Path) -> Path:
    return Path(path).with_name(Path(path).name + ".sha256")


def write_checked(path: Path, data: bytes) -> None:
    """A cache entry and, beside it, its sha256. The data goes first: a crash in between leaves an
    entry without a checksum, which `read_checked` treats as missing."""
    atomic_write_bytes(path, data)
    atomic_write_text(sha256_path(path), hashlib.sha256(data).hexdigest() + "\n")


def read_checked(path: Path) -> bytes | None:
    """The bytes of a cache entry written by `write_checked`, or None if absent or corrupt."""
    try:
        data = Path(path).read_bytes()
        expected = sha256_path(path).read_text().strip()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == expected else None


def write_npy(path: Path, array) -> None:
    import numpy as np

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    write_checked(path, buf.getvalue())


def read_npy(path: Path, log, what: str):
    """A checked array, or None (with a warning when a file was there but did not verify)."""
    import numpy as np

    data = read_checked(path)
    if data is None:
        if Path(path).exists():
            log(f"warning: {what} cache {path} fails its checksum; recomputing")
        return None
    return np.load(io.BytesIO(data), allow_pickle=False)
