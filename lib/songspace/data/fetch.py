"""Copying JamendoLyrics from a local folder or an http(s) URL, verified and resumable.

Run from the command line as ``songspace fetch --src S --dest D`` (the Makefile's ``data`` target).
"""
from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from songspace.cache import atomic_open, atomic_write_text, file_hash
from songspace.data.loading import JAMENDO_CSV, DatasetError, read_manifest

FETCH_HELP = ("Set JAMENDO_SRC to a local JamendoLyrics folder or an http(s) URL holding one, e.g. "
              "`make data JAMENDO_SRC=/path/to/jamendolyrics`, or run `make demo` to use the synthetic dataset.")


def _is_url(src: str) -> bool:
    return str(src).startswith(("http://", "https://"))


def _open_src(src: str, rel: str):
    """A readable binary stream of ``rel`` under ``src``; None when it is absent (404 / no file)."""
    if _is_url(src):
        url = src.rstrip("/") + "/" + urllib.parse.quote(rel)
        try:
            return urllib.request.urlopen(url, timeout=60)
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise DatasetError(f"{url}: HTTP {e.code} {e.reason}") from e
        except (urllib.error.URLError, OSError) as e:
            raise DatasetError(f"{url}: cannot reach the source ({getattr(e, 'reason', e)}). {FETCH_HELP}") from e
    p = Path(src) / rel
    return open(p, "rb") if p.is_file() else None


def _copy_stream(stream, dest: Path) -> dict:
    """Copy to a temp file beside ``dest`` then ``os.replace``: never a half file under the real name."""
    h, size = hashlib.sha256(), 0
    with atomic_open(dest, suffix=".part") as f, stream:
        while block := stream.read(1 << 20):
            f.write(block)
            h.update(block)
            size += len(block)
        expected = stream.headers.get("Content-Length") if hasattr(stream, "headers") else None
        if expected is not None and int(expected) != size:
            raise DatasetError(f"{dest.name}: got {size} bytes, server announced {expected}")
    return {"size": size, "sha256": h.hexdigest()}


def _verified(dest: Path, rel: str, entry: dict | None) -> bool:
    p = dest / rel
    return entry is not None and p.is_file() and p.stat().st_size == entry["size"] and file_hash(p) == entry["sha256"]


def fetch_jamendo(src: str | os.PathLike, dest: str | os.PathLike, verbose: bool = False) -> dict:
    """Copy JamendoLyrics (csv, lyrics, mp3s where present) from a folder or URL; verified and resumable.

    Every copied file goes through a temp file and ``os.replace``; ``dest/.manifest.json`` records
    each file's size and sha256 (``{"source", "files": {relpath: {"size", "sha256"}}, "absent"}``) and
    ``dest/.complete`` is written last. A re-run of a complete copy re-hashes it against the manifest and
    copies nothing if all is well; otherwise (or without ``.complete``) it copies only what is missing
    or differs, and asks the source again for files it lacked. ``src`` is only read. Copied: the CSV,
    ``lyrics/<stem>.txt``, ``mp3/<Filepath>`` where the source has it, and README/ATTRIBUTION/LICENSE
    files; not the word lists or time annotations.

    Parameters
    ----------
    src : str or path
        Local JamendoLyrics folder, or an http(s) base URL with the same layout.
    dest : path
        Target folder.

    Returns
    -------
    dict with lists ``copied``, ``kept`` (already verified), ``absent`` (optional files the source
    lacks, e.g. mp3s), all relative paths.

    Raises
    ------
    DatasetError
        Source unreachable (message says how to set JAMENDO_SRC or run ``make demo``), or a required
        file (the CSV, a lyrics file) missing there.
    """
    src, dest = str(src), Path(dest)
    if not _is_url(src):
        if not (Path(src) / JAMENDO_CSV).is_file():
            raise DatasetError(f"{src}: no {JAMENDO_CSV} there (folder missing or not a JamendoLyrics copy). {FETCH_HELP}")
        if Path(src).resolve() == dest.resolve():
            raise DatasetError(f"{dest}: source and destination are the same folder")
    mpath, done = dest / ".manifest.json", dest / ".complete"
    manifest = json.loads(mpath.read_text()) if mpath.is_file() else {"source": src, "files": {}, "absent": []}
    files, absent = manifest["files"], set(manifest.get("absent", []))

    if done.is_file() and manifest["files"] and all(_verified(dest, r, e) for r, e in files.items()):
        return {"copied": [], "kept": sorted(files), "absent": sorted(absent)}
    done.unlink(missing_ok=True)

    stream = _open_src(src, JAMENDO_CSV)
    if stream is None:
        raise DatasetError(f"{src}/{JAMENDO_CSV}: not found. {FETCH_HELP}")
    files[JAMENDO_CSV] = _copy_stream(stream, dest / JAMENDO_CSV)
    copied = [JAMENDO_CSV]
    meta = read_manifest(dest / JAMENDO_CSV)
    if "Filepath" not in meta.columns:
        raise DatasetError(f"{src}/{JAMENDO_CSV}: missing column 'Filepath'")
    wanted = [(f"lyrics/{Path(f).stem}.txt", True) for f in meta["Filepath"]]
    wanted += [(f"mp3/{f}", False) for f in meta["Filepath"]]
    wanted += [(f, False) for f in ["README.md", "ATTRIBUTION.md", "LICENSE", "LICENSE.upstream"]]

    kept = []
    for rel, required in wanted:
        if _verified(dest, rel, files.get(rel)):
            kept.append(rel)
            continue
        stream = _open_src(src, rel)
        if stream is None:
            if required:
                raise DatasetError(f"{src}/{rel}: required file missing in the source")
            absent.add(rel)
            files.pop(rel, None)
        else:
            files[rel] = _copy_stream(stream, dest / rel)
            absent.discard(rel)
            copied.append(rel)
            if verbose:
                print(f"copied {rel}", flush=True)
        manifest.update(source=src, files=files, absent=sorted(absent))
        atomic_write_text(mpath, json.dumps(manifest, indent=1, ensure_ascii=False))
    manifest.update(source=src, files=files, absent=sorted(absent))
    atomic_write_text(mpath, json.dumps(manifest, indent=1, ensure_ascii=False))
    atomic_write_text(done, json.dumps({"files": len(files), "absent": len(absent)}) + "\n")
    return {"copied": copied, "kept": kept, "absent": sorted(absent)}
