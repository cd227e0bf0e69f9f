"""A user's own collection: a plain folder of audio (no manifest), its listing, and its label columns.

``scan_folder`` turns a folder tree into the rows a manifest would hold: every audio file found
recursively, its lyrics from a sibling ``.txt``/``.lrc`` with the same stem, and the first-level
subfolder as a ``folder`` label. ``listing`` fingerprints what a collection holds, so ``make`` re-runs
the data stage when a file or the manifest changes. ``detect_label_columns`` says which columns can
score clusters. Nothing here writes into the collection.
"""
from __future__ import annotations

import os
import re
import stat
import unicodedata
from collections import Counter
from pathlib import Path

import pandas as pd

# audio.decode reads these (libsndfile, or PyAV's bundled FFmpeg libraries), each tested by writing a file:
# tests/data/test_listing.py
AUDIO_SUFFIXES = (".mp3", ".ogg", ".oga", ".flac", ".wav", ".aif", ".aiff", ".aifc", ".m4a", ".mp4", ".aac",
                  ".opus", ".wma", ".wv", ".webm", ".mka", ".m4b", ".mp2", ".ac3", ".caf", ".w64", ".au", ".tta")
# Music files of formats not read (no encoder here to test FFmpeg's decoder on, copy protection, or no sound):
# a row each, so none vanishes.
UNREAD_AUDIO = {".ape": "Monkey's Audio", ".mpc": "Musepack", ".tak": "TAK", ".shn": "Shorten", ".dsf": "DSD",
                ".dff": "DSD", ".ra": "RealAudio", ".amr": "AMR", ".m4p": "copy-protected iTunes", ".mid": "MIDI",
                ".aax": "copy-protected Audible", ".midi": "MIDI"}
_MUSIC = (*AUDIO_SUFFIXES, *UNREAD_AUDIO)
LYRICS_SUFFIXES = (".txt", ".lrc")
# Columns that describe a song but never group songs: not labels even when values repeat.
NOT_LABELS = {"track_id", "audio_path", "lyrics_path", "lyrics", "title", "url", "filepath", "path", "file",
              "duration", "duration_s", "has_audio", "has_lyrics", "display_name", "albumartist", "genres",
              "year", "track_number", "disc_number", "sample_rate", "channels"}
# What operating systems, NAS boxes, sync and version-control tools keep inside a music folder (trash,
# indexes, thumbnails, resource forks of songs named as the songs): skipped without a word. Lower case.
SYSTEM_FOLDERS = {".git", ".svn", ".hg", ".trash", ".trashes", ".spotlight-v100", ".fseventsd", ".temporaryitems",
                  ".documentrevisions-v100", ".thumbnails", ".appledouble", ".appledb", ".appledesktop", ".stfolder",
                  ".stversions", ".sync", ".@__thumb", "@eadir", "#recycle", "#snapshot", "@recycle", "$recycle.bin",
                  "recycler", "system volume information", "lost+found"}
_TRASH = re.compile(r"^\.Trash-\d+$", re.I)  # a Linux desktop's trash on a removable drive, per user id
_LRC_TAG = re.compile(r"^\s*\[(ar|ti|al|au|by|length|offset|re|ve|#)\s*:[^\]]*\]\s*$", re.I)
_LRC_TIME = re.compile(r"[\[<]\d{1,3}:\d{1,2}(?:[.:]\d{1,3})?[\]>]")
# A ripped album's file names: "03 Title", "03 - Title", "03. Title", "1-03 Title" (disc-track).
_TRACK_PREFIX = re.compile(r"^((?:\d{1,2}-)?(\d{1,3}))(?:\s*[-._]\s*|\s+)(?=\S)(.+)$")


def nfc(name: str) -> str:
    """``name`` in Unicode's composed form (NFC). macOS writes file names decomposed (NFD: "é" as "e" and a
    combining accent), lyrics downloaders and tags write them composed: the two look the same and compare
    unequal. Names are matched, and ids and titles written, in NFC; paths stay as they are on disk."""
    return unicodedata.normalize("NFC", name)


def audio_suffix(name: str) -> str:
    """A file name's suffix in lower case, past the spaces and dots a name may end with ("song.mp3 ", "song.mp3.":
    a copy from a system that allows them)."""
    return Path(name.rstrip(" .")).suffix.lower()


def hidden_name(name: str) -> bool:
    """True for a dot-file's name: "." and a letter or "_" (``.cache``, ``.DS_Store``, ``._song.mp3``). A "." before
    anything else begins a real name: "...And Justice for All", ".38 Special", ".5 The Gray Chapter"."""
    return len(name) > 1 and name[0] == "." and (name[1].isalpha() or name[1] == "_")


def is_hidden(rel: Path) -> bool:
    """True for a dot-file and anything inside a dot-folder (``hidden_name``)."""
    return any(hidden_name(part) for part in rel.parts)


def is_system_folder(name: str) -> bool:
    """True for a folder an operating system, a NAS or a tool keeps (``SYSTEM_FOLDERS``, ``.Trash-1000``)."""
    return name.lower() in SYSTEM_FOLDERS or _TRASH.match(name) is not None


def _hidden_problem(rel: Path, root: Path) -> dict:
    folder = next((p for p in rel.parts[:-1] if hidden_name(p)), None)
    where = f'in the hidden folder "{printable(folder)}"' if folder else "a hidden file"
    return _problem(rel, "hidden_file", f'{where} (its name starts with "." and a letter): not read; rename '
                    f"{'the folder' if folder else 'it'} to read it", root)


def strip_lrc(text: str) -> str:
    """Plain lyrics from LRC text: ``[mm:ss.xx]`` and word ``<mm:ss.xx>`` stamps and ``[ar:...]`` tags removed."""
    lines = [_LRC_TIME.sub("", line).strip() for line in text.splitlines() if not _LRC_TAG.match(line)]
    return "\n".join(lines).strip("\n")


def printable(rel: Path | str) -> str:
    """A path as UTF-8 text: bytes of a name that is not UTF-8 (an old Windows or Samba copy) shown as
    ``\\xe9`` escapes, so the name can be reported and written to a table (Parquet, CSV)."""
    return os.fsencode(str(rel)).decode("utf-8", "backslashreplace")


def is_utf8(rel: Path | str) -> bool:
    try:
        str(rel).encode("utf-8")
    except UnicodeEncodeError:  # os.walk gives undecodable bytes of a name as lone surrogates
        return False
    return True


def _problem(rel, problem: str, detail: str, root: Path, kept: bool = False, modality: str = "audio") -> dict:
    name = Path(rel) if modality == "track" else Path(rel).with_suffix("")  # a folder's name has no suffix: "Vol. 2"
    return dict(track_id=nfc(printable(name.as_posix())), modality=modality, problem=problem,
                detail=detail, path=printable(root / rel), kept=kept)


def _loops(path: Path) -> bool:
    try:
        path.resolve()
    except (RuntimeError, OSError):  # Python 3.11 raises RuntimeError on a symlink loop
        return True
    return False


def _link_inside(path: Path, root: Path) -> Path | None:
    """The target of the link ``path`` relative to ``root`` when it lies there outside any hidden or system
    folder (so the scan reaches it itself), else None."""
    try:
        target = path.resolve()
    except (RuntimeError, OSError):  # a link loop: left to validate, which reports the file
        return None
    real_root = root.resolve()
    if not target.exists() or not target.is_relative_to(real_root):
        return None  # a broken link stays a song, which validate reports as missing
    rel = target.relative_to(real_root)
    return None if is_hidden(rel) or any(map(is_system_folder, rel.parts)) else rel


def _walk(root: Path):
    """``os.walk`` of ``root`` (sorted, system folders skipped: ``is_system_folder``), and report rows for the
    folder links it does not follow: a link to a folder inside the collection (its songs are read at the real
    place, once) or outside it (not read, as for a file link that leads out), and for each folder it cannot
    read (``unreadable_folder``: os.walk would pass over it without a word)."""
    problems = []

    def unreadable(e: OSError):
        problems.append(_problem(Path(e.filename).relative_to(root), "unreadable_folder", f"the folder cannot be "
                                 f"read ({e.strerror}): its files are not read; let this user read it to read them",
                                 root, modality="track"))

    def tree():
        for dirpath, dirnames, filenames in os.walk(root, onerror=unreadable):
            if dirpath != str(root) and not os.access(dirpath, os.X_OK):  # listed, but no file in it opens
                unreadable(PermissionError(13, "Permission denied: it can be listed but not entered", dirpath))
                dirnames[:] = []
                continue
            base, keep = Path(dirpath), []
            for d in sorted(dirnames):
                if is_system_folder(d):
                    continue
                if (base / d).is_symlink():
                    target = _link_inside(base / d, root)
                    what = (f"a link to {printable(target)}, inside the collection: its songs are read there, once"
                            if target is not None else f"a folder link to {printable((base / d).resolve())}, outside "
                            "the collection folder (or in a hidden one): not read")
                    problems.append(_problem((base / d).relative_to(root), "folder_link", what, root,
                                             target is not None, "track"))
                    continue
                keep.append(d)
            dirnames[:] = keep
            yield base, filenames

    return tree(), problems


def _special(path: Path) -> str | None:
    """What ``path`` is when it is a named pipe, a socket or a device (through a link too), else None. Opening a
    pipe waits for a writer, forever; reading ``/dev/zero`` never ends."""
    try:
        mode = path.stat().st_mode
    except OSError:  # missing, or a dangling link: validate reports it
        return None
    return (None if stat.S_ISREG(mode) or stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device")


def _left_out(rel: Path, root: Path) -> dict | None:
    """The report row of an audio file ``rel`` the scan does not read (hidden, a format not read, a name not UTF-8,
    a link loop, a link to a song read at its own place, no regular file, not readable), else None."""
    path, suffix = root / rel, audio_suffix(rel.name)
    if is_hidden(rel):
        return _hidden_problem(rel, root)
    if suffix in UNREAD_AUDIO:
        return _problem(rel, "unsupported_format", f"a {UNREAD_AUDIO[suffix]} file: a format songspace does not "
                        "read; not read (convert it, to FLAC say, to read it)", root)
    if not is_utf8(rel):
        return _problem(rel, "bad_file_name", "the file or folder name is not valid UTF-8 (a copy from an old "
                        "system?): not read; rename it to read it", root)
    if path.is_symlink() and _loops(path):
        return _problem(rel, "file_link", "a link that leads back to itself (a loop): not read", root)
    if path.is_symlink() and (target := _link_inside(path, root)) is not None \
            and audio_suffix(target.name) in AUDIO_SUFFIXES:
        return _problem(rel, "file_link", f"a link to {printable(target)}, inside the collection: read there, once",
                        root, kept=True)
    if (kind := _special(path)) is not None:
        return _problem(rel, "not_a_file", f"{kind}, not a regular file: never opened", root)
    if path.exists() and not os.access(path, os.R_OK):  # the decoders' own errors for it differ, or raise
        return _problem(rel, "unreadable_audio", "cannot be read (permission denied): not read", root)
    return None


def sidecars(filenames) -> dict[str, str]:
    """The lyrics file of each stem among ``filenames`` (one folder's names), keyed by the stem in NFC
    (``nfc``): ``.txt`` or ``.lrc`` in any case, ``.txt`` first; hidden files (``._song.txt``: ``hidden_name``) skipped."""
    out = {}
    for name in sorted(filenames, key=lambda n: (Path(n).suffix.lower() != ".txt", n)):
        if Path(name).suffix.lower() in LYRICS_SUFFIXES and not hidden_name(name):
            out.setdefault(nfc(Path(name).stem), name)
    return out


def titles_from_names(stems: list[str]) -> list[str]:
    """The titles of one folder's files from their names: without the track numbers when every file of the
    folder, two at least, starts with a different one that reads as an album's: zero-padded to one width, as
    rippers write them, and no higher than twice the folder's count ("01 Intro", "02 99 Luftballons" ->
    "Intro", "99 Luftballons"). Else the names as they are: a lone "99 Luftballons", bands' names ("2 Unlimited
    - No Limit", "3 Doors Down - Kryptonite"), "01 Intro" beside "99 Luftballons"."""
    found = [_TRACK_PREFIX.match(s) for s in stems]
    if len(stems) < 2 or not all(found) or len({m.group(1) for m in found}) < len(found):
        return list(stems)
    tracks = [m.group(2) for m in found]
    padded = any(t.startswith("0") for t in tracks) and len({len(t) for t in tracks}) == 1
    album = padded and max(int(t) for t in tracks) <= 2 * len(tracks)
    return [m.group(3).strip() for m in found] if album else list(stems)


def scan_folder(folder: str | os.PathLike) -> pd.DataFrame:
    """The manifest rows of a folder without ``manifest.csv``.

    Parameters
    ----------
    folder : path
        Collection root, searched recursively (system folders and AppleDouble ``._*`` files skipped: see
        ``is_system_folder``; an audio file with a hidden name or in a hidden folder, ``hidden_name``, is reported
        and not read; folder links not followed, each reported; a file link that resolves outside is reported
        by ``validate``).

    Returns
    -------
    pd.DataFrame, one row per audio file, sorted by path: ``track_id`` (path relative to ``folder``
    without extension, ``/``-separated; with it when two files of a folder share a name, ``song.flac`` and
    ``song.wav``), ``audio_path`` and ``lyrics_path`` (relative to ``folder``; lyrics missing when no
    sibling ``<stem>.txt`` or ``<stem>.lrc``, in any case), ``title`` (file stem; without an album's track
    numbers: ``titles_from_names``) and ``folder``
    (first-level subfolder; missing for files directly in ``folder``). ``df.attrs["load_problems"]``: report
    rows for what was not read: a name that is not UTF-8 (``bad_file_name``), a hidden name (``hidden_file``),
    a music format not read (``unsupported_format``: ``UNREAD_AUDIO``), a folder it cannot read
    (``unreadable_folder``), a folder link, a lyrics file
    beside no audio file of its name (``unmatched_lyrics``). Ids, titles and folders are in NFC (``nfc``).
    """
    root = Path(folder)
    rows = []
    walk, problems = _walk(root)
    for base, filenames in walk:
        lyrics = sidecars(filenames)
        audio = []
        for name in sorted(filenames):
            rel = (base / name).relative_to(root)
            if name.startswith("._") or audio_suffix(name) not in _MUSIC:
                continue  # an AppleDouble file holds a Mac file's metadata, not its sound
            left_out = _left_out(rel, root)
            if left_out:
                problems.append(left_out)
                continue
            audio.append((rel, nfc(Path(name.rstrip(" .")).stem)))
        stems = Counter(stem for _, stem in audio)
        names = list(dict.fromkeys(stem for _, stem in audio))  # two files of one name share a title
        title_of = dict(zip(names, titles_from_names(names)))
        for stem in sorted(lyrics):
            rel = (base / lyrics[stem]).relative_to(root)
            if stem in stems and (kind := _special(root / rel)) is not None:  # read, it could block the stage forever
                problems.append(_problem(rel, "not_a_file", f"{kind}, not a regular file: never opened", root,
                                         modality="lyrics"))
                del lyrics[stem]
            elif stem not in stems and not is_hidden(rel) and is_utf8(rel):
                problems.append(_problem(rel, "unmatched_lyrics", "a lyrics file with no audio file of the same "
                                         "name beside it: not read", root, modality="lyrics"))
        for rel, stem in audio:
            lyr = lyrics.get(stem)
            track_id = nfc(rel.as_posix() if stems[stem] > 1 else (rel.parent / stem).as_posix())
            rows.append(dict(track_id=track_id, audio_path=rel.as_posix(),
                             lyrics_path=(rel.parent / lyr).as_posix() if lyr else None, title=title_of[stem],
                             folder=nfc(rel.parts[0]) if len(rel.parts) > 1 else None))
    df = pd.DataFrame(rows, columns=["track_id", "audio_path", "lyrics_path", "title", "folder"])
    df = df.sort_values("audio_path", ignore_index=True)
    df.attrs["load_problems"] = problems
    return df


def listing(source: str | os.PathLike) -> str:
    """A text fingerprint of a collection: one line per file (relative path, size, mtime in ns).

    ``make`` rewrites its stamp only when this text changes, so the data stage re-runs when a file is
    added, removed or edited (the manifest included) and not otherwise. The folders and files it passes
    over are those ``scan_folder`` passes over without a word (``_listed``): system folders, AppleDouble
    files and hidden files that are not audio (``.DS_Store``, which Finder rewrites). A folder it cannot read is
    a line too.
    """
    root = Path(source)
    if root.is_file():  # a manifest named directly: its folder is the collection
        root = root.parent
    lines = []
    walk, problems = _walk(root)
    for base, filenames in walk:
        for name in sorted(filenames):
            p = base / name
            rel = p.relative_to(root)
            if not _listed(rel):
                continue
            try:
                st = p.stat()
            except OSError:  # a dangling link: listed, validate reports it
                lines.append(f"{printable(rel.as_posix())}\t-\t-")
                continue
            lines.append(f"{printable(rel.as_posix())}\t{st.st_size}\t{st.st_mtime_ns}")
    lines += [f"{p['path']}\tunreadable" for p in problems if p["problem"] == "unreadable_folder"]
    return f"# {printable(root.resolve())}\n" + "\n".join(lines) + "\n"


def _listed(rel: Path) -> bool:
    """Whether ``scan_folder`` reads or reports the file ``rel``: anything but an AppleDouble file and a hidden
    file (or one in a hidden folder) that is not audio."""
    return not rel.name.startswith("._") and (not is_hidden(rel) or audio_suffix(rel.name) in _MUSIC)


def detect_label_columns(df: pd.DataFrame, explicit=None) -> list[str]:
    """Columns that can score clusters: grouping values, not per-song ones.

    A column is a label when, over the rows that have a value, it has at least 2 classes, at least
    one class is shared by 2 or more songs, and it is not unique per song (like a title). Path,
    lyrics and title columns never are, nor a language read from the lyrics (``language_source``
    ``detected``: every lyrics representation would match it by construction). ``explicit`` (a list of names) overrides the detection;
    a named column that is missing raises ``KeyError`` naming it.

    Returns
    -------
    list of column names, ``language``, ``genre``, ``artist`` first when present, then table order.
    """
    if explicit is not None:
        missing = [c for c in explicit if c not in df.columns]
        if missing:
            raise KeyError(f"label column(s) {missing} not in the collection (columns: {list(df.columns)})")
        return list(explicit)
    found = []
    for col in df.columns:
        if col.lower() in NOT_LABELS or col.startswith("_") or col.endswith("_source"):
            continue
        if f"{col}_source" in df and df[f"{col}_source"].eq("detected").any():  # read from the lyrics (data.language)
            continue
        values = df[col].dropna().astype(str)
        values = values[values.str.strip() != ""]
        counts = values.value_counts()
        if len(counts) >= 2 and counts.iloc[0] >= 2 and len(counts) < len(values):
            found.append(col)
    first = [c for c in ("language", "genre", "artist") if c in found]
    return first + [c for c in found if c not in first]


def write_if_changed(path: str | os.PathLike, text: str) -> bool:
    """Write ``text`` to ``path`` atomically only when it differs, so the file's mtime moves only
    when its content does (what ``make`` compares). Returns whether it wrote."""
    from songspace.cache import atomic_write_text

    p = Path(path)
    if p.is_file() and p.read_text(encoding="utf-8") == text:
        return False
    atomic_write_text(p, text)
    return True


def main(argv: list[str] | None = None) -> int:
    """``python -m songspace.data.collection stamp SOURCE OUT``: the make stamp of a collection's file list."""
    import argparse
    import sys

    ap = argparse.ArgumentParser(prog="python -m songspace.data.collection", description=main.__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    st = sub.add_parser("stamp", help="write SOURCE's file listing to OUT when it changed")
    st.add_argument("source")
    st.add_argument("out")
    st.add_argument("--extra", default="", help="more text that should re-run the stage when it changes")
    a = ap.parse_args(argv)
    src = Path(a.source)
    if not src.exists():
        print(f"songspace: error: {src}: no such collection folder or manifest file. Point DATASET_PATH at a "
              "folder of audio files (or one with manifest.csv), or put it under data/raw/<name>/ and pass "
              "DATASET=<name>.", file=sys.stderr)
        return 2
    text = (f"# {a.extra}\n" if a.extra else "") + listing(src)
    changed = write_if_changed(a.out, text)
    print(f"{src}: {text.count(chr(10)) - 1 - bool(a.extra)} files listed ({'changed' if changed else 'unchanged'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
