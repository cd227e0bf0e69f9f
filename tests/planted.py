"""Planted Gaussian-blob data shared by the training and model tests (importable: tests/ is on sys.path)."""
import numpy as np


def planted(n_per_cell=12, windows=2, d_audio=24, d_lyrics=16, noise=0.3, seed=0):
    """3 genres x 3 languages; audio = genre centre + noise, lyrics = language centre + noise.

    Each song has ``windows`` rows (like audio windows) sharing its track id.
    """
    rng = np.random.default_rng(seed)
    cells = np.repeat(np.arange(9), n_per_cell)
    genre, lang = cells // 3, cells % 3
    ca, cl = rng.normal(0, 1, (3, d_audio)), rng.normal(0, 1, (3, d_lyrics))
    genre, lang = np.repeat(genre, windows), np.repeat(lang, windows)
    ids = np.repeat([f"song{i:03d}" for i in range(len(cells))], windows)
    audio = ca[genre] + noise * rng.normal(size=(len(genre), d_audio))
    lyrics = cl[lang] + noise * rng.normal(size=(len(genre), d_lyrics))
    return audio.astype(np.float32), lyrics.astype(np.float32), genre, lang, ids


def tone_tracks(folder, n=6, seconds=4.0, sr=16000, step_hz=60):
    """``n`` WAV files of a tone (200 Hz + ``step_hz`` x i) plus noise in ``folder``: the tracks table rows
    (track_id, audio_path, has_audio) that ``extract_audio`` reads."""
    import soundfile as sf

    rows = []
    for i in range(n):
        t = np.arange(int(sr * seconds)) / sr
        y = 0.3 * np.sin(2 * np.pi * (200 + step_hz * i) * t) + 0.05 * np.random.default_rng(i).standard_normal(len(t))
        sf.write(folder / f"t{i}.wav", y.astype(np.float32), sr)
        rows.append(dict(track_id=f"t{i}", audio_path=str(folder / f"t{i}.wav"), has_audio=True))
    return rows
