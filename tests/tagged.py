"""Small audio files of every format the decoder reads, with tags written by mutagen (test helpers).

libsndfile writes WAV, AIFF, FLAC, Ogg Vorbis/Opus and MP3; PyAV (FFmpeg's encoders) writes AAC in
``.m4a``, Opus and WMA. Tags: ID3 for MP3/AIFF/WAV, Vorbis comments for FLAC/Ogg/Opus, MP4 atoms, ASF.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

SR = 22050
SF_FORMATS = {".wav": ("WAV", "PCM_16"), ".aiff": ("AIFF", "PCM_16"), ".flac": ("FLAC", "PCM_16"),
              ".ogg": ("OGG", "VORBIS"), ".mp3": ("MP3", "MPEG_LAYER_III")}
AV_FORMATS = {".m4a": ("ipod", "aac"), ".opus": ("ogg", "libopus"), ".wma": ("asf", "wmav2")}


def tone(seconds: float, sr: int = SR, seed: int = 0, amp: float = 0.3, channels: int = 1) -> np.ndarray:
    """(n, channels) float32: a noisy tone, different per seed."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    y = amp * np.sin(2 * np.pi * (220 + 40 * seed) * t) + 0.05 * rng.standard_normal(len(t))
    return np.repeat(y[:, None], channels, axis=1).astype(np.float32)


def write_audio(path: Path, seconds: float = 4.0, sr: int = SR, seed: int = 0, channels: int = 1) -> Path:
    """An audio file in the format its suffix names."""
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    y = tone(seconds, sr, seed, channels=channels)
    suffix = path.suffix.lower()
    if suffix in SF_FORMATS:
        fmt, subtype = SF_FORMATS[suffix]
        sf.write(path, y, sr, format=fmt, subtype=subtype)
        return path
    container, codec = AV_FORMATS[suffix]
    rate = 48000 if codec == "libopus" else 44100
    import soxr

    z = soxr.resample(y, sr, rate).astype(np.float32)
    options = {"movflags": "faststart"} if container == "ipod" else {}  # moov first, as iTunes writes it
    with av.open(str(path), "w", format=container, options=options) as out:
        st = out.add_stream(codec, rate=rate, layout="mono" if channels == 1 else "stereo")
        st.bit_rate = 128000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(z.T), format="fltp",
                                           layout="mono" if channels == 1 else "stereo")
        frame.sample_rate = rate
        for packet in st.encode(frame):
            out.mux(packet)
        for packet in st.encode(None):
            out.mux(packet)
    return path


def write_tags(path: Path, **t) -> Path:
    """Tags ``title, artist, album, genre (str or list), date, track, language, lyrics`` written with mutagen
    in the file's own tag system."""
    import mutagen
    from mutagen import id3

    path = Path(path)
    suffix = path.suffix.lower()
    genres = t.get("genre")
    genres = [genres] if isinstance(genres, str) else (genres or [])
    if suffix in (".mp3", ".aiff", ".wav"):
        f = mutagen.File(path)
        if f.tags is None:
            f.add_tags()
        tags = f.tags
        for key, frame in (("title", id3.TIT2), ("artist", id3.TPE1), ("album", id3.TALB), ("date", id3.TDRC),
                           ("track", id3.TRCK), ("language", id3.TLAN)):
            if key in t:
                tags.add(frame(encoding=3, text=[str(t[key])]))
        if genres:
            tags.add(id3.TCON(encoding=3, text=genres))
        if "lyrics" in t:
            tags.add(id3.USLT(encoding=3, lang="eng", desc="", text=t["lyrics"]))
        f.save()
        return path
    f = mutagen.File(path)
    if f.tags is None:
        f.add_tags()
    if suffix == ".m4a":
        keys = {"title": "\xa9nam", "artist": "\xa9ART", "album": "\xa9alb", "date": "\xa9day", "lyrics": "\xa9lyr"}
        for k, atom in keys.items():
            if k in t:
                f.tags[atom] = [str(t[k])]
        if genres:
            f.tags["\xa9gen"] = genres
        if "track" in t:
            f.tags["trkn"] = [(int(str(t["track"]).split("/")[0]), 0)]
        if "language" in t:
            f.tags["----:com.apple.iTunes:LANGUAGE"] = [t["language"].encode()]
    elif suffix == ".wma":
        keys = {"title": "Title", "artist": "Author", "album": "WM/AlbumTitle", "date": "WM/Year",
                "track": "WM/TrackNumber", "language": "WM/Language", "lyrics": "WM/Lyrics"}
        for k, name in keys.items():
            if k in t:
                f.tags[name] = [str(t[k])]
        if genres:
            f.tags["WM/Genre"] = genres
    else:  # Vorbis comments: FLAC, Ogg Vorbis, Ogg Opus
        keys = {"title": "title", "artist": "artist", "album": "album", "date": "date", "track": "tracknumber",
                "language": "language", "lyrics": "lyrics"}
        for k, name in keys.items():
            if k in t:
                f.tags[name] = [str(t[k])]
        if genres:
            f.tags["genre"] = genres
    f.save()
    return path
