"""The `songspace` command: help for every subcommand, one-line user errors (exit 2), scan writes interim files."""
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from songspace import cli

ROOT = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["fetch", "scan", "synth", "features", "report", "assign"]


def test_top_level_help_lists_every_subcommand(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: songspace")
    for name in SUBCOMMANDS:
        assert name in out


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_subcommand_help(name, capsys):
    assert cli.main([name, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: songspace {name}")
    assert "--verbose" in out


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got:\n{err}"
    assert lines[0].startswith("songspace: error: ")
    assert "Traceback" not in err
    return lines[0]


def test_missing_dataset_is_one_line_and_exit_2(tmp_path, capsys):
    assert cli.main(["scan", str(tmp_path / "nope"), "--out", str(tmp_path / "i")]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "nope" in line
    assert not (tmp_path / "i").exists()


def test_dataset_error_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "manifest.csv").write_text("title,audio_path\nx,a.wav\n")  # no track_id column
    assert cli.main(["scan", str(tmp_path / "manifest.csv"), "--out", str(tmp_path / "i")]) == 2
    assert "track_id" in _one_error_line(capsys.readouterr().err)


def test_bad_arguments_are_one_line_and_exit_2(capsys):
    assert cli.main(["scan"]) == 2
    assert "required" in _one_error_line(capsys.readouterr().err)
    assert cli.main(["no-such-command"]) == 2
    _one_error_line(capsys.readouterr().err)
    assert cli.main(["features", "x", "--out", "y", "--profile", "huge"]) == 2
    _one_error_line(capsys.readouterr().err)


def test_features_without_interim_folder(tmp_path, capsys):
    assert cli.main(["features", str(tmp_path / "missing"), "--out", str(tmp_path / "p")]) == 2
    assert "songspace scan" in _one_error_line(capsys.readouterr().err)


def test_report_user_error(tmp_path, capsys):
    assert cli.main(["report", "--executed", str(tmp_path / "x.ipynb"), "--out-dir", str(tmp_path)]) == 2
    assert "x.ipynb" in _one_error_line(capsys.readouterr().err)


def test_assign_user_errors(tmp_path, capsys):
    assert cli.main(["assign", str(tmp_path / "new.mp3"), "--results", str(tmp_path / "none")]) == 2
    assert "no such results folder" in _one_error_line(capsys.readouterr().err)
    assert cli.main(["assign", str(tmp_path / "new.mp3"), "--results", str(tmp_path)]) == 2
    assert "state.json: missing" in _one_error_line(capsys.readouterr().err)


def test_verbose_sets_debug_and_shows_the_traceback(tmp_path, capsys):
    assert cli.main(["-v", "scan", str(tmp_path / "nope"), "--out", str(tmp_path / "i")]) == 2
    assert logging.getLogger("songspace").getEffectiveLevel() == logging.DEBUG
    err = capsys.readouterr().err
    assert "Traceback" in err and err.rstrip().splitlines()[-1].startswith("songspace: error: ")
    assert cli.main(["scan", str(tmp_path / "nope"), "--out", str(tmp_path / "i"), "--verbose"]) == 2
    assert logging.getLogger("songspace").getEffectiveLevel() == logging.DEBUG
    capsys.readouterr()
    cli.main(["scan", str(tmp_path / "nope"), "--out", str(tmp_path / "i")])
    assert logging.getLogger("songspace").getEffectiveLevel() == logging.INFO


@pytest.fixture
def tiny_manifest(tmp_path):
    """Three tracks: audio + lyrics, lyrics only, and lyrics with a missing audio file."""
    src = tmp_path / "col"
    (src / "audio").mkdir(parents=True)
    (src / "lyrics").mkdir()
    sr = 16000
    t = np.arange(int(4.0 * sr)) / sr
    sf.write(src / "audio" / "a.wav", (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), sr)
    for tid, text in (("a", "la la la\nhello night\n"), ("b", "bonjour la nuit\n"), ("c", "hallo welt\n")):
        (src / "lyrics" / f"{tid}.txt").write_text(text, encoding="utf-8")
    pd.DataFrame([
        dict(track_id="a", audio_path="audio/a.wav", lyrics_path="lyrics/a.txt", language="en", genre="pop"),
        dict(track_id="b", audio_path=None, lyrics_path="lyrics/b.txt", language="fr", genre="pop"),
        dict(track_id="c", audio_path="audio/missing.wav", lyrics_path="lyrics/c.txt", language="de", genre="rock"),
    ]).to_csv(src / "manifest.csv", index=False)
    return src / "manifest.csv"


def test_scan_writes_interim_files_and_prints_counts(tiny_manifest, tmp_path, capsys):
    out = tmp_path / "interim"
    assert cli.main(["scan", str(tiny_manifest), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    tracks = pd.read_parquet(out / "tracks.parquet")
    report = pd.read_csv(out / "validation.csv")
    assert tracks["track_id"].tolist() == ["a", "b", "c"]
    assert tracks["has_audio"].tolist() == [True, False, False]
    assert tracks["has_lyrics"].tolist() == [True, True, True]
    assert report[["track_id", "problem"]].values.tolist() == [["c", "missing_file"]]
    assert "3 tracks: 1 with audio, 3 with lyrics; 1 problem" in printed
    assert "missing_file" in printed  # the validation counts table
    assert "tracks.parquet" in printed


def test_features_on_a_scanned_collection(tiny_manifest, tmp_path, capsys):
    interim, proc = tmp_path / "interim", tmp_path / "processed"
    assert cli.main(["scan", str(tiny_manifest), "--out", str(interim)]) == 0
    assert cli.main(["features", str(interim), "--out", str(proc), "--profile", "tiny", "--n-jobs", "1",
                     "--lyrics-backend", "tfidf"]) == 0
    out = capsys.readouterr().out
    assert "audio: 1 of 1 tracks" in out and "lyrics tfidf: 3 songs" in out
    assert (proc / "logmel.npy").is_file() and (proc / "lyrics_tfidf.npy").is_file()


def test_module_entry_points_delegate(tmp_path):
    """`python -m songspace` runs the command with its exit code (2 on a user error, one line)."""
    r = subprocess.run([sys.executable, "-m", "songspace", "scan", str(tmp_path / "nope"), "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("songspace: error: ") and "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "songspace", "report", "--executed", str(tmp_path / "x.ipynb"),
                        "--out-dir", str(tmp_path)], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "x.ipynb" in r.stderr


def test_script_logs_reach_the_terminal(tmp_path):
    """Run as `python tools/bench.py` the module is `__main__`: its INFO lines must still show."""
    r = subprocess.run([sys.executable, str(ROOT / "tools" / "bench.py"), "--out", str(tmp_path),
                        "--only", "clustering", "--cluster-sizes", "40", "--embed-sizes", "40",
                        "--embed-methods", "tsne", "--budget", "5"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "[bench] wrote" in r.stderr and "== clustering" in r.stdout
