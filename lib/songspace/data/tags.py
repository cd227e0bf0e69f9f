"""Embedded metadata of audio files (ID3, Vorbis comments, MP4 atoms, ASF), read with mutagen.

``read_tags`` maps each tag system's keys (and a WAV or AIFF file's own text chunks) onto one set of
fields (``TAG_FIELDS``): title, artist,
albumartist, album, genre (first of a multi-valued tag; all of them in ``genres``), year and decade
(from the date), track and disc number, language, and embedded lyrics; plus the header's duration,
sample rate and channels. ``read_all`` does it for a list of files in parallel. Nothing is written.
"""
from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)

TAG_FIELDS = ("title", "artist", "albumartist", "album", "genre", "genres", "year", "decade",
              "track_number", "disc_number", "language", "lyrics")
HEADER_FIELDS = ("duration_s", "sample_rate", "channels")
# Tag fields that never group songs (not labels even when values repeat across songs).
NOT_LABEL_FIELDS = {"albumartist", "genres", "year", "track_number", "disc_number", "duration_s",
                    "sample_rate", "channels", "display_name"}

# field -> keys per tag system (first present wins). ID3 frames also cover AIFF/WAV ID3 chunks.
_ID3 = {"title": ["TIT2"], "artist": ["TPE1"], "albumartist": ["TPE2"], "album": ["TALB"], "genre": ["TCON"],
        "date": ["TDRC", "TYER", "TDOR"], "track_number": ["TRCK"], "disc_number": ["TPOS"], "language": ["TLAN"]}
_VORBIS = {"title": ["title"], "artist": ["artist"], "albumartist": ["albumartist", "album artist"],
           "album": ["album"], "genre": ["genre"], "date": ["date", "year", "originaldate"],
           "track_number": ["tracknumber", "track"], "disc_number": ["discnumber", "disc"], "language": ["language"],
           "lyrics": ["lyrics", "unsyncedlyrics", "unsynced lyrics"]}
_MP4 = {"title": ["\xa9nam"], "artist": ["\xa9ART"], "albumartist": ["aART"], "album": ["\xa9alb"],
        "genre": ["\xa9gen", "gnre"], "date": ["\xa9day"], "track_number": ["trkn"], "disc_number": ["disk"],
        "language": ["----:com.apple.iTunes:LANGUAGE", "----:com.apple.iTunes:language"], "lyrics": ["\xa9lyr"]}
_ASF = {"title": ["Title"], "artist": ["Author"], "albumartist": ["WM/AlbumArtist"],
        "album": ["WM/AlbumTitle"], "genre": ["WM/Genre"], "date": ["WM/Year", "WM/OriginalReleaseYear"],
        "track_number": ["WM/TrackNumber", "WM/Track"], "disc_number": ["WM/PartOfSet"],
        "language": ["WM/Language"], "lyrics": ["WM/Lyrics"]}
# A multi-valued genre written as one string: "Rock; Pop", "Rock/Pop", "Rock, Pop", "Rock|Pop".
_GENRE_SPLIT = re.compile(r"\s*[;/|,\x00]\s*")
YEAR = re.compile(r"(?<!\d)(1[0-9]{3}|20[0-9]{2})(?:(?!\d)|(?=[01]\d[0-3]\d(?!\d)))")  # also 20030512
_NUMBER = re.compile(r"^\s*(\d+)")


def _texts(value) -> list[str]:
    """A tag value (frame, list, tuple, atom) as a list of non-empty strings."""
    if value is None:
        return []
    if hasattr(value, "genres"):  # ID3 TCON: mutagen resolves "(17)" and ID3v1 genre numbers
        items = list(value.genres)
    elif hasattr(value, "text"):  # other ID3 text frames, USLT
        items = value.text if isinstance(value.text, list) else [value.text]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        items = [value]
    out = []
    for item in items:
        if isinstance(item, tuple):  # MP4 trkn/disk: (number, total)
            item = item[0] if item and item[0] else None
        if item is None:
            continue
        if isinstance(item, bytes):
            item = item.decode("utf-8", "replace")
        text = str(getattr(item, "value", item)).strip()
        if text:
            out.append(text)
    return out


def _lookup(tags, keys: list[str]) -> list[str]:
    for key in keys:
        try:
            found = tags.getall(key) if hasattr(tags, "getall") else tags.get(key)
        except (KeyError, ValueError):
            found = None
        texts = [t for v in (found if isinstance(found, list) else [found]) for t in _texts(v)]
        if texts:
            return texts
    return []


def _system(tags) -> dict:
    from mutagen.asf import ASFTags
    from mutagen.id3 import ID3
    from mutagen.mp4 import MP4Tags

    if isinstance(tags, ID3):
        return _ID3
    if isinstance(tags, MP4Tags):
        return _MP4
    if isinstance(tags, ASFTags):
        return _ASF
    return _VORBIS  # FLAC, Ogg Vorbis/Opus/FLAC/Speex comments; APEv2 uses the same names


def _id3_lyrics(tags) -> list[str]:
    return [t for f in tags.getall("USLT") for t in _texts(f)] if hasattr(tags, "getall") else []


def fields_of(tags) -> dict:
    """The ``TAG_FIELDS`` found in one mutagen tag object (missing fields left out)."""
    keys = _system(tags)
    out = {}
    for field in ("title", "artist", "albumartist", "album", "language"):
        texts = _lookup(tags, keys[field])
        if texts:
            out[field] = "; ".join(dict.fromkeys(texts)) if field != "language" else texts[0]
    genres = [g for t in _lookup(tags, keys["genre"]) for g in _GENRE_SPLIT.split(t) if g]
    if genres:
        out["genre"], out["genres"] = genres[0], "; ".join(dict.fromkeys(genres))
    for text in _lookup(tags, keys["date"]):
        m = YEAR.search(text)
        if m:
            out["year"] = int(m.group(1))
            out["decade"] = f"{out['year'] // 10 * 10}s"
            break
    for field in ("track_number", "disc_number"):
        texts = _lookup(tags, keys[field])
        m = _NUMBER.match(texts[0]) if texts else None
        if m:
            out[field] = int(m.group(1))
    lyrics = _id3_lyrics(tags) if keys is _ID3 else _lookup(tags, keys["lyrics"])
    if lyrics:
        out["lyrics"] = max(lyrics, key=len)  # several USLT frames (languages): the fullest one
    return out


def read_tags(path: str) -> dict:
    """Tags and header of one audio file.

    Parameters
    ----------
    path : str
        An audio file of any format mutagen knows (MP3, FLAC, Ogg Vorbis/Opus, MP4/M4A, WMA, AIFF, WAV).

    Returns
    -------
    dict with the ``TAG_FIELDS`` found (str; ``year``, ``track_number``, ``disc_number`` int), the
    ``HEADER_FIELDS`` mutagen read (``duration_s`` in seconds, ``sample_rate`` in Hz), ``tag_error``
    (str) when the header parses but the tags do not, ``file_error`` when neither does. Never raises for a bad file: its audio
    problems are ``validation``'s to report.
    """
    import mutagen

    try:
        f = mutagen.File(path)
    except Exception as e:  # mutagen raises its own error types per format, and OSError
        return {"file_error": f"{type(e).__name__}: {e}"}  # the audio checks report the file itself
    if f is None:
        return {}
    out = {}
    info = getattr(f, "info", None)
    for field, attr in (("duration_s", "length"), ("sample_rate", "sample_rate"), ("channels", "channels")):
        v = getattr(info, attr, None)
        if v:
            out[field] = float(v) if field == "duration_s" else int(v)
    tags = f.tags if f.tags is not None or not path.lower().endswith(".mp3") else _apev2(path)
    if tags is not None:
        try:
            out.update(fields_of(tags))
        except Exception as e:  # a malformed frame: the header still counts
            out["tag_error"] = f"{type(e).__name__}: {e}"
    if path.lower().endswith(_NATIVE_SUFFIXES):
        for field, value in _native_fields(path).items():
            out.setdefault(field, value)  # an ID3 chunk's value wins
    return out


def _apev2(path: str):
    """An MP3's APEv2 tag (foobar2000 can write one alone), which ``mutagen.File`` leaves out; None if none."""
    from mutagen.apev2 import APEv2, error

    try:
        return APEv2(path)
    except (error, OSError):  # APENoHeaderError: no APEv2 tag either
        return None


# WAV's RIFF INFO list and AIFF's NAME/AUTH/ANNO chunks: mutagen reads only an ID3 chunk in these files,
# libsndfile reads the native ones.
_NATIVE_SUFFIXES = (".wav", ".aif", ".aiff", ".aifc")


def _native_fields(path: str) -> dict:
    """``TAG_FIELDS`` from a WAV or AIFF file's own text chunks (``soundfile``'s strings); {} if none. The
    strings are read as Vorbis comments of the same names, so genre, year and track parse as for any tag."""
    import soundfile as sf

    try:
        with sf.SoundFile(path) as f:
            raw = {k: (getattr(f, k) or "").strip() for k in ("title", "artist", "album", "genre", "date", "tracknumber")}
        return fields_of({k: [v] for k, v in raw.items() if v})
    except Exception:  # not a file libsndfile reads (the audio checks report it), or chunks that do not parse
        return {}


def read_all(paths: list, n_jobs: int = 1) -> list[dict]:
    """``read_tags`` for each path (``None`` -> ``{}``), in order; ``n_jobs`` worker threads (file reads
    release the GIL, so threads help on a cold disk)."""
    def one(p):
        return read_tags(p) if isinstance(p, str) else {}

    if n_jobs == 1 or len(paths) < 64:
        return [one(p) for p in paths]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=n_jobs) as ex:
        return list(ex.map(one, paths, chunksize=64))
