"""Atomic writes and a content-keyed cache: nothing half-written is ever read back as valid."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import numpy as np


def file_hash(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes (hex). Keys caches by content, not by name or mtime."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def params_hash(obj: Any) -> str:
    """Stable short hash of a JSON-able object (dataclass dicts, configs)."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@functools.lru_cache(maxsize=None)
def library_versions(*dists: str) -> dict[str, str | None]:
    """Installed versions of the distributions ``dists`` (None when one is missing), for cache keys.

    What a cached result holds depends on the libraries that computed it as much as on its parameters
    (an upgraded decoder shifts samples, another torch or BLAS changes the last digits of an embedding and
    the path of a training run), so every cache key carries the versions its computation used: after an
    upgrade the entries are recomputed, never mixed with new ones in one table.
    """
    from importlib import metadata

    def version(name):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return None

    return {name: version(name) for name in dists}


_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read once: os.umask can only be read by setting it


def temp_prefix(name: str) -> str:
    """Prefix of this process's temp files for ``name``: ``.<name>.<pid>-``. The pid lets a later run
    tell a killed run's leftovers from a live writer's file (``remove_stale_temps``)."""
    return f".{name}.{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike, suffixes=(".tmp", ".part")) -> list[Path]:
    """Delete the hidden temp files a killed run left in ``folder`` (not recursive); returns them.

    Only files named by ``temp_prefix`` whose writing process no longer exists are removed, so a run
    going on beside this one keeps its files.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for p in folder.iterdir():
        if not (p.name.startswith(".") and p.name.endswith(suffixes) and p.is_file()):
            continue
        head = p.name.rsplit("-", 1)[0]  # .<name>.<pid>
        pid = head.rsplit(".", 1)[-1]
        if pid.isdigit() and not _pid_alive(int(pid)):
            p.unlink(missing_ok=True)
            removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[BinaryIO]:
    """A binary file to write ``path`` through: a temp file beside it, fsynced and renamed into place
    when the block ends, removed if it raises. Readers never see a half-written ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=temp_prefix(path.name), suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file the mode open() would
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``."""
    with atomic_open(path) as f:
        f.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """``np.savez`` made atomic."""
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, array)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_to_parquet(df, path: str | os.PathLike) -> Path:
    """``DataFrame.to_parquet`` made atomic."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    return atomic_write_bytes(path, buf.getvalue())


def atomic_to_csv(df, path: str | os.PathLike) -> Path:
    return atomic_write_text(path, df.to_csv(index=False))


class NpzCache:
    """A folder of ``<key>.npz`` entries; ``key`` should combine content and parameter hashes.

    A missing or unreadable entry is a miss (it is recomputed and overwritten), never an error.
    """

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, key: str) -> Path:
        return self.root / f"{key}.npz"

    def get(self, key: str) -> dict[str, np.ndarray] | None:
        p = self.path(key)
        if not p.exists():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except Exception:  # corrupt entry: treat as a miss; it is overwritten on put
            return None

    def put(self, key: str, **arrays: np.ndarray) -> None:
        atomic_save_npz(self.path(key), **arrays)

    def __contains__(self, key: str) -> bool:
        return self.get(key) is not None
