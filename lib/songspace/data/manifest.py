"""A manifest CSV read row by row: a row that cannot be used becomes a problem naming its line, not an error.

``read_manifest`` decodes the file (``text.decode_text``: BOM, UTF-8, a stated guess), recognises the
separator from the header, and parses it with the ``csv`` module so each row keeps its line number.
A row with more or fewer fields than the header, with an empty ``track_id``, or with a quote left
open (a line break inside quotes anywhere but a ``lyrics`` cell, or the file ending inside quotes) is left
out and reported (``bad_manifest_row``); ``resolve_path`` does the same for a path that cannot be a file
path (``bad_path``). Only a manifest with no usable row at all is an error (``loading.DatasetError``).
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from songspace.data.text import TextDecodeError, decode_text

_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")


class ManifestError(Exception):
    """The manifest as a whole cannot be read (``loading`` raises it as ``DatasetError``)."""


def problem(line: int, track_id, modality: str, code: str, detail: str, path, kept: bool = False) -> dict:
    """One validation-report row for a manifest line (``track_id`` ``"manifest line N"`` when it has none)."""
    return dict(track_id=track_id if isinstance(track_id, str) and track_id else f"manifest line {line}",
                modality=modality, problem=code, detail=f"line {line}: {detail}", path=str(path), kept=kept)


def inside(path: str, root: Path) -> bool:
    """Whether ``path`` (already resolved) lies in the folder ``root`` (resolved)."""
    return Path(path).is_relative_to(root)


def sniff_delimiter(header: str) -> str:
    """The field separator of a manifest's header line: ``,`` unless only ``;``, tab or ``|`` occur."""
    if "," in header:
        return ","
    counts = {d: header.count(d) for d in (";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise ManifestError(f"{path}: is a directory, not a CSV file") from None
    except OSError as e:
        raise ManifestError(f"{path}: cannot read ({e.strerror})") from e
    if not raw.strip():
        raise ManifestError(f"{path}: the file is empty (expected a CSV header such as 'track_id,audio_path')")
    utf16 = raw[:2] in (b"\xff\xfe", b"\xfe\xff")
    head = raw[:4096]
    if head.count(b"\0") > max(2, len(head) // 100) and not utf16:  # one stray NUL is a bad cell, not binary
        raise ManifestError(f"{path}: not a CSV text file (binary content)")
    try:
        return decode_text(raw, guess=False)[0]
    except TextDecodeError as e:
        raise ManifestError(f"{path}: {e}; save the manifest as UTF-8") from e


def _track_id(fields: list[str], header: list[str]) -> str | None:
    """The ``track_id`` cell of a row that may be short, or None."""
    i = header.index("track_id") if "track_id" in header else len(fields)
    return fields[i] if i < len(fields) else None


# Columns whose cells may hold a line break inside quotes; elsewhere one means a quote left open.
MULTILINE_COLUMNS = {"lyrics"}


def _read_rows(lines: list[str], pos: int, header: list[str], sep: str, path: Path, rows: list,
               problems: list) -> tuple[int, str] | None:
    """Parse ``lines[pos:]`` into ``rows`` (fields + line number) and ``problems``, to the end of the file or
    to a row whose quote is left open: one with a line break in a cell outside ``MULTILINE_COLUMNS``, or
    that the file ends inside. Returns None at the end, else (that row's 0-based line, what is wrong)."""
    reader = csv.reader(iter(lines[pos:]), delimiter=sep)
    start = pos
    for fields in reader:
        line, start = start, pos + reader.line_num
        if start - line > 1:  # the row runs over several lines: legitimate only inside a lyrics cell
            broken = [h for h, f in zip(header, fields) if ("\n" in f or "\r" in f) and h not in MULTILINE_COLUMNS]
            if broken or len(fields) > len(header):
                where = f"in column {broken[0]}" if broken else "the row has too many fields"
                return line, f"is still open on line {start} ({where})"
        if start == len(lines):
            try:  # did the file end inside quotes?
                list(csv.reader(iter(lines[line:]), delimiter=sep, strict=True))
            except csv.Error as e:
                if "unexpected end of data" in str(e):
                    return line, "is never closed"
        if not fields or all(not f.strip() for f in fields) and len(fields) <= 1:
            continue
        if len(fields) != len(header):
            problems.append(problem(line + 1, _track_id(fields, header), "track", "bad_manifest_row",
                                    f"{len(fields)} fields, the header has {len(header)}: row left out", path))
            continue
        rows.append([f if f != "" else None for f in fields] + [line + 1])
    return None


def read_manifest(path: Path) -> tuple[pd.DataFrame, list[dict]]:
    """A manifest as strings, and the rows it could not use.

    Only an empty cell is missing: a genre called "NA" or "None" stays a string. Blank lines are skipped.

    Returns
    -------
    df : pd.DataFrame of str (missing: NA), one row per usable line, column ``_line`` = its line number
    problems : list of report rows (``problem``), one per left-out line

    Raises
    ------
    ManifestError
        Unreadable, empty, binary or undecodable file, or a header that is no CSV. A row with a quote left
        open is a problem row, and the lines after it are read as rows of their own.
    """
    path = Path(path)
    text = _text(path)
    sep = sniff_delimiter(text.splitlines()[0])
    lines = io.StringIO(text, newline="").readlines()  # the physical lines csv counts
    reader = csv.reader(iter(lines), delimiter=sep)
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as e:
        raise ManifestError(f"{path}: cannot read the header as CSV ({e})") from e
    seen: dict[str, int] = {}
    for i, h in enumerate(header):  # a repeated name gets ".1", ".2" (as pandas names them)
        if h in seen:
            seen[h] += 1
            header[i] = f"{h}.{seen[h]}"
        else:
            seen[h] = 0
    rows, problems = [], []
    pos = reader.line_num  # index of the next physical line
    while (stray := _read_rows(lines, pos, header, sep, path, rows, problems)) is not None:
        line, why = stray  # that line is left out and parsing starts afresh on the next one
        first = next(csv.reader([lines[line]], delimiter=sep), [])
        problems.append(problem(line + 1, _track_id(first, header), "track", "bad_manifest_row",
                                f"a quote opened on this line {why}: row left out; the next lines are read", path))
        pos = line + 1
    df = pd.DataFrame(rows, columns=[*header, "_line"], dtype=object)
    for c in header:
        df[c] = df[c].astype("str")
    return df, problems


def drop_empty_ids(df: pd.DataFrame, path) -> tuple[pd.DataFrame, list[dict]]:
    """Rows without a ``track_id`` left out, each as a problem naming its line."""
    empty = df["track_id"].isna() | df["track_id"].fillna("").str.strip().eq("")
    problems = [problem(int(line), None, "track", "bad_manifest_row", "empty track_id: row left out", path)
                for line in df.loc[empty, "_line"]]
    return df[~empty], problems


def resolve_path(value, base: Path) -> tuple[str | None, str | None]:
    """(absolute path, None), (None, None) for an empty cell, or (None, why) for a value that is no file path."""
    if not isinstance(value, str) or not value.strip():
        return None, None
    v = value.strip()
    if _URL.match(v):
        return None, f"'{v}' is a URL, not a file path: not fetched"
    try:
        return str((base / v).resolve()), None  # an absolute v replaces base
    except (ValueError, OSError, RuntimeError) as e:  # NUL bytes, a name too long, a symlink loop
        return None, f"{v!r} is not a usable file path ({type(e).__name__}: {e})"
