"""A synthetic dataset with planted structure: genre lives in the audio, language in the lyrics.

Each genre has its own tempo and pulse pattern, timbre (harmonic spectrum, noise colour) and pitch
range; each track draws its tempo, notes, harmonic weights and levels at random around those, so no
two tracks are the same. Lyrics are lines of real words of one language, independent of genre.
A method that recovers ``genre`` from audio and ``language`` from lyrics works; chance does not.
Written in the generic manifest layout that ``songspace.data.loading.load_dataset`` reads.
"""
from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from songspace.cache import atomic_to_csv, atomic_write_bytes, atomic_write_text

log = logging.getLogger(__name__)

# tempo (bpm), pulse: beat positions (in beats, within a bar of 4) of kick and click,
# midi range of the notes, notes per beat, harmonic amplitude law, noise colour (spectral slope).
GENRES = {
    "drone": dict(bpm=(50, 60), kick=(), click=(), midi=(33, 45), notes_per_beat=0.125,
                  harmonics=lambda k: 1.0 / k * (k % 2), noise_slope=-2.0, noise=0.05, decay=0.0),
    "fourfloor": dict(bpm=(122, 130), kick=(0, 1, 2, 3), click=(0.5, 1.5, 2.5, 3.5), midi=(55, 67),
                      notes_per_beat=1, harmonics=lambda k: 1.0 / k, noise_slope=0.0, noise=0.02, decay=4.0),
    "shuffle": dict(bpm=(88, 100), kick=(0, 2), click=(1, 3, 2 / 3, 5 / 3, 8 / 3, 11 / 3), midi=(70, 82),
                    notes_per_beat=2 / 3, harmonics=lambda k: 1.0 / k**3, noise_slope=-1.0, noise=0.03, decay=2.0),
    "arpeggio": dict(bpm=(136, 144), kick=(), click=(0, 2), midi=(62, 86), notes_per_beat=4,
                     harmonics=lambda k: (k <= 3) / k**2, noise_slope=1.0, noise=0.01, decay=12.0),
}

WORDS = {
    "en": "love night heart dream fire rain home road light dance river morning shadow sweet time "
          "world never always together forever breathe falling running waiting tonight golden ocean "
          "summer window little broken whisper stars silver heaven remember tomorrow city train empty highway".split(),
    "fr": "amour nuit cœur rêve feu pluie maison route lumière danse rivière matin ombre douce temps "
          "monde jamais toujours ensemble souvenir respirer tomber courir attendre soir doré océan "
          "été fenêtre petite brisé murmure étoiles argent ciel demain ville train vide chemin chanson".split(),
    "de": "Liebe Nacht Herz Traum Feuer Regen Zuhause Straße Licht Tanz Fluss Morgen Schatten süß Zeit "
          "Welt niemals immer zusammen ewig atmen fallen laufen warten heute golden Meer Sommer Fenster "
          "klein gebrochen flüstern Sterne Silber Himmel erinnern Stadt Zug leer Autobahn".split(),
    "es": "amor noche corazón sueño fuego lluvia casa camino luz baile río mañana sombra dulce tiempo "
          "mundo nunca siempre juntos recuerdo respirar caer correr esperar tarde dorado océano verano "
          "ventana pequeña roto susurro estrellas plata cielo ciudad tren vacío carretera canción".split(),
}


def _colored_noise(rng: np.random.Generator, n: int, slope: float) -> np.ndarray:
    """Noise whose power spectrum goes as f**slope (0 white, -1 pink, -2 brown, +1 blue); unit RMS."""
    spec = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    f = np.arange(n // 2 + 1, dtype=float)
    f[0] = 1.0
    x = np.fft.irfft(spec * f ** (slope / 2), n)
    return x / (np.std(x) + 1e-12)


def _render(genre: str, rng: np.random.Generator, duration_s: float, sr: int) -> np.ndarray:
    """One track of ``genre``: (n_samples,) float32 in [-1, 1]."""
    g = GENRES[genre]
    n = int(duration_s * sr)
    t = np.arange(n) / sr
    beat = 60.0 / rng.uniform(*g["bpm"])
    y = np.zeros(n)

    # Notes: a random walk inside the genre's pitch range, with jittered harmonic weights.
    note_len = beat / g["notes_per_beat"]
    k = np.arange(1, 13)
    amps = g["harmonics"](k).astype(float) * rng.uniform(0.8, 1.2, k.size)
    midi = rng.integers(g["midi"][0], g["midi"][1] + 1)
    for start in np.arange(0.0, duration_s, note_len):
        midi = int(np.clip(midi + rng.integers(-4, 5), *g["midi"]))
        f0 = 440.0 * 2 ** ((midi - 69) / 12)
        i0, i1 = int(start * sr), min(n, int((start + note_len) * sr))
        tt = t[: i1 - i0]
        env = np.exp(-g["decay"] * tt) if g["decay"] else np.ones_like(tt)
        ks = k[k * f0 < sr / 2]
        y[i0:i1] += env * (amps[: ks.size, None] * np.sin(2 * np.pi * f0 * ks[:, None] * tt)).sum(0)
    y /= np.max(np.abs(y)) + 1e-12

    # Pulse: kick = decaying 150->50 Hz sweep, click = short noise burst, at the pattern's beats.
    def hits(offsets):
        bar = 4 * beat
        return [b * bar + o * beat for b in range(int(duration_s / bar) + 1) for o in offsets]
    kick_t = np.arange(int(0.15 * sr)) / sr
    kick = np.sin(2 * np.pi * (50 * kick_t + 100 * (1 - np.exp(-kick_t * 30)) / 30)) * np.exp(-kick_t * 25)
    click = rng.standard_normal(int(0.02 * sr)) * np.exp(-np.arange(int(0.02 * sr)) / (0.004 * sr))
    for times, wave, gain in ((hits(g["kick"]), kick, 1.2), (hits(g["click"]), click, 0.4)):
        for s in times:
            i0 = int(s * sr)
            if i0 < n:
                m = min(len(wave), n - i0)
                y[i0:i0 + m] += gain * wave[:m]

    y += g["noise"] * rng.uniform(0.5, 1.5) * _colored_noise(rng, n, g["noise_slope"])
    return (y / np.max(np.abs(y)) * rng.uniform(0.5, 0.9)).astype(np.float32)


def _lyrics(lang: str, rng: np.random.Generator) -> str:
    words = WORDS[lang]
    lines = [" ".join(rng.choice(words, rng.integers(4, 8))) for _ in range(rng.integers(4, 7))]
    return "\n".join(l[0].upper() + l[1:] for l in lines) + "\n"


def make_synthetic(out_dir, n_per_cell: int = 6, genres=("drone", "fourfloor", "shuffle"),
                   languages=("en", "fr", "de"), duration_s: float = 8.0, sr: int = 22050, seed: int = 0) -> Path:
    """Write the planted-structure dataset: ``len(genres) * len(languages) * n_per_cell`` tracks.

    Parameters
    ----------
    out_dir : path
        Folder to fill: ``audio/<id>.wav`` (16-bit mono), ``lyrics/<id>.txt``, ``manifest.csv``
        (track_id, audio_path, lyrics_path, genre, language, artist, title), ``.complete`` last.
        A folder already complete with the same parameters is left as it is.
    n_per_cell : int
        Tracks per (genre, language) pair.
    genres : sequence of str
        Keys of ``GENRES``.
    languages : sequence of str
        Keys of ``WORDS`` (en, fr, de, es).
    duration_s : float
        Seconds per track.
    sr : int
        Sample rate (Hz).
    seed : int
        Same seed, same bytes.

    Returns
    -------
    Path of ``manifest.csv``.
    """
    for name, allowed, got in (("genre", GENRES, genres), ("language", WORDS, languages)):
        bad = [x for x in got if x not in allowed]
        if bad:
            raise ValueError(f"unknown {name}(s) {bad}; choose from {sorted(allowed)}")
    out = Path(out_dir)
    params = dict(n_per_cell=n_per_cell, genres=list(genres), languages=list(languages),
                  duration_s=duration_s, sr=sr, seed=seed)
    done = out / ".complete"
    if done.is_file() and json.loads(done.read_text()) == params and (out / "manifest.csv").is_file():
        return out / "manifest.csv"
    done.unlink(missing_ok=True)

    rows = []
    for gi, genre in enumerate(genres):
        for li, lang in enumerate(languages):
            for i in range(n_per_cell):
                # One generator per track, keyed by its cell: a track does not depend on the others.
                rng = np.random.default_rng([seed, gi, li, i])
                tid = f"{genre}_{lang}_{i:02d}"
                buf = io.BytesIO()
                sf.write(buf, _render(genre, rng, duration_s, sr), sr, format="WAV", subtype="PCM_16")
                atomic_write_bytes(out / "audio" / f"{tid}.wav", buf.getvalue())
                atomic_write_text(out / "lyrics" / f"{tid}.txt", _lyrics(lang, rng))
                rows.append(dict(track_id=tid, audio_path=f"audio/{tid}.wav", lyrics_path=f"lyrics/{tid}.txt",
                                 genre=genre, language=lang, artist=f"{genre}-{lang}-{i % 2}",
                                 title=f"{genre} {lang} {i}"))
    path = atomic_to_csv(pd.DataFrame(rows), out / "manifest.csv")
    atomic_write_text(done, json.dumps(params))
    return path


SHAPES = ("manifest", "folder", "audio_only", "lyrics_only", "no_labels")


def make_shape(out_dir, shape: str, n_per_cell: int = 2, duration_s: float = 4.0, sr: int = 16000,
               seed: int = 0, **kw) -> Path:
    """A synthetic collection in one of the shapes users have, to run the pipeline on.

    Parameters
    ----------
    out_dir : path  the collection folder to write.
    shape : str
        ``manifest`` (the full layout of ``make_synthetic``); ``folder`` (no manifest: ``<genre>/<id>.wav``
        plus an ``.lrc`` lyrics file beside every other track); ``audio_only`` (manifest ``track_id,
        audio_path, genre``: no lyrics, no language); ``lyrics_only`` (manifest ``track_id, lyrics_path,
        language, genre``); ``no_labels`` (manifest ``track_id, audio_path, lyrics_path``; the lyrics all
        English, so no ``language`` is read from them, and as many songs as the other shapes). A folder's
        lyrics are in several languages and untagged: its ``language`` is read from them.
    n_per_cell, duration_s, sr, seed, **kw : as ``make_synthetic``.

    Returns
    -------
    Path of the collection folder.
    """
    import shutil

    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; choose from {SHAPES}")
    out = Path(out_dir)
    if shape == "manifest":
        return make_synthetic(out, n_per_cell, duration_s=duration_s, sr=sr, seed=seed, **kw).parent
    src = out.parent / f".{out.name}.source"
    if shape == "no_labels":  # lyrics of one language: no language label is read from them (data.language)
        n_per_cell, kw = n_per_cell * len(kw.get("languages", ("en", "fr", "de"))), {**kw, "languages": ("en",)}
    m = pd.read_csv(make_synthetic(src, n_per_cell, duration_s=duration_s, sr=sr, seed=seed, **kw))
    out.mkdir(parents=True, exist_ok=True)
    if shape == "folder":
        for i, r in enumerate(m.itertuples()):
            (out / r.genre).mkdir(exist_ok=True)
            shutil.copyfile(src / r.audio_path, out / r.genre / f"{r.track_id}.wav")
            if i % 2 == 0:  # LRC time stamps must not reach the embedding
                lines = (src / r.lyrics_path).read_text(encoding="utf-8").splitlines()
                lrc = "[ar:synthetic]\n" + "\n".join(f"[00:{j:02d}.00]{line}" for j, line in enumerate(lines))
                (out / r.genre / f"{r.track_id}.lrc").write_text(lrc, encoding="utf-8")
    else:
        cols = {"audio_only": ["track_id", "audio_path", "genre"],
                "lyrics_only": ["track_id", "lyrics_path", "language", "genre"],
                "no_labels": ["track_id", "audio_path", "lyrics_path"]}[shape]
        for c in ("audio_path", "lyrics_path"):
            if c in cols:
                shutil.copytree(src / Path(m[c].iloc[0]).parent, out / Path(m[c].iloc[0]).parent, dirs_exist_ok=True)
        m[cols].to_csv(out / "manifest.csv", index=False)
    shutil.rmtree(src)
    return out


def add_arguments(ap) -> None:
    """The options of ``songspace synth`` (and ``python -m songspace.data.synthetic``)."""
    ap.add_argument("--out", required=True, help="folder to fill (audio/, lyrics/, manifest.csv)")
    ap.add_argument("--n-per-cell", type=int, default=6, help="tracks per (genre, language) pair")
    ap.add_argument("--duration", type=float, default=8.0, help="seconds per track")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tiny", action="store_true", help="2 tracks per cell of 4 s (tests)")


def run(a) -> Path:
    """Write the dataset the parsed options ``a`` describe; returns the manifest's path."""
    n, d = (2, 4.0) if a.tiny else (a.n_per_cell, a.duration)
    log.info("writing synthetic tracks to %s (%d per cell, %.1f s each)", a.out, n, d)
    return make_synthetic(a.out, n_per_cell=n, duration_s=d, seed=a.seed)
