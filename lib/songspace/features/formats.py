"""Which library decodes a file: the format its first bytes show, the suffixes that name each format, and the
decoder of each. ``audio`` reads files with them; validation uses them to name a file whose suffix says
another format than it holds.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Which library decodes a format: libsndfile (soundfile) or FFmpeg's libraries (PyAV's wheels bundle
# them: no ffmpeg program needed), the faster one as tools/bench.py's ``formats`` section measures it
# (60 s of stereo to mono 22.05 kHz, x realtime, soundfile/PyAV on 2 busy cores: WAV 1044/302, AIFF
# 789/245, FLAC 427/302, MP3 481/402, Ogg Vorbis 281/213, Opus 68/136; M4A 553, WMA 718 PyAV only).
# MP3 staying on libsndfile also keeps every MP3 collection's samples, the shipped corpus's included.
DECODERS = {".wav": "soundfile", ".flac": "soundfile", ".ogg": "soundfile", ".oga": "soundfile",
            ".aif": "soundfile", ".aiff": "soundfile", ".aifc": "soundfile", ".mp3": "soundfile",
            ".opus": "av", ".m4a": "av", ".mp4": "av", ".aac": "av", ".wma": "av"}
NEEDS_FFMPEG = tuple(k for k, v in DECODERS.items() if v == "av")  # libsndfile cannot read these (or is slower)


@dataclass(frozen=True)
class Container:
    """A format as a file's first bytes show it (``container``): its name and the suffixes that name it, the
    format's own first (a file that holds it under another name is decoded as if it had that one)."""
    name: str
    suffixes: tuple


# A file's bytes, not its name, choose its decoder: libsndfile takes an M4A file named .mp3 for an MP3 and
# decodes nothing of it. An Ogg file holding Opus may be named .ogg (libsndfile reads it); .aac is a raw ADTS
# stream or MP4.
CONTAINERS = {"wav": Container("WAV", (".wav",)),
              "aiff": Container("AIFF", (".aif", ".aiff", ".aifc")),
              "flac": Container("FLAC", (".flac",)),
              "ogg": Container("Ogg Vorbis", (".ogg", ".oga")),
              "opus": Container("Opus", (".opus", ".ogg", ".oga")),
              "mp3": Container("MP3", (".mp3",)),
              "mp4": Container("MP4/M4A", (".m4a", ".mp4", ".aac")),
              "aac": Container("AAC", (".aac",)),
              "asf": Container("WMA", (".wma",))}
FFMPEG_ONLY = ("mp4", "aac", "asf")  # what libsndfile cannot open (every other header is read with it first)
_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")


def container(path) -> str | None:
    """The key of ``CONTAINERS`` that a file's first bytes show (its signature), or None: none of them (not
    audio, too damaged, missing, or a format songspace does not list, as W64 or CAF), and then the suffix
    decides. An ID3 tag in front (MP3s carry one, some AAC and FLAC files too) is skipped.

    Read by hand, not with FFmpeg's probe: that reads up to 5 MB of a WAV file (25-40 ms a file, validation
    asks three times), and these signatures are fixed by the formats."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:3] == b"ID3" and len(head) >= 10:  # its size is "syncsafe", 7 bits a byte; a footer adds 10
                size = (head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7 | head[9] & 0x7F
                f.seek(10 + size + (10 if head[5] & 0x10 else 0))
                head = f.read(64)
    except OSError:
        return None
    if head[8:12] == b"WAVE" and head[:4] in (b"RIFF", b"RF64", b"BW64"):
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "opus" if b"OpusHead" in head else "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    if head[:16] == _ASF_GUID:
        return "asf"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG audio frame's sync bits
        return "aac" if head[1] & 0x06 == 0 else "mp3"  # layer bits 00: an ADTS (AAC) frame
    return None


def misnamed(path) -> tuple[str, str] | None:
    """(what the file holds, what its suffix names), e.g. ("MP4/M4A", "MP3"), when a listed suffix names
    another format than the file's bytes; None when they agree, or either is unknown."""
    suffix = Path(path).suffix.lower()
    held = container(path)
    if held is None or suffix in CONTAINERS[held].suffixes:
        return None
    named = next((c.name for c in CONTAINERS.values() if suffix in c.suffixes), None)
    return (CONTAINERS[held].name, named) if named else None


def decoder_for(path) -> str:
    """The library that decodes ``path``: ``DECODERS`` of its suffix when that names what its bytes hold (or
    they show nothing listed), else ``DECODERS`` of the own suffix of what they hold (``misnamed``)."""
    suffix = Path(path).suffix.lower()
    held = container(path)
    if held is not None and suffix not in CONTAINERS[held].suffixes:
        suffix = CONTAINERS[held].suffixes[0]
    return DECODERS.get(suffix, "soundfile")
