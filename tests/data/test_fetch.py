"""fetch_jamendo: complete, verified, resumable copies from a folder or over real HTTP; src never touched."""
import functools
import hashlib
import json
import shutil
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from songspace.data.fetch import fetch_jamendo
from songspace.data.loading import DatasetError, load_dataset

MP3S = ["Séculaire_feat._Nÿme_-_saru.mp3", "Mes_Larmes_-_kobzx2z.mp3"]  # one non-ASCII name on purpose


@pytest.fixture
def small_src(tmp_path, jamendo_src) -> Path:
    """The real csv and all 79 lyrics, but only 2 mp3s: a source where most audio is absent."""
    src = tmp_path / "src"
    (src / "lyrics").mkdir(parents=True)
    (src / "mp3").mkdir()
    shutil.copy(jamendo_src / "JamendoLyrics.csv", src)
    for f in pd.read_csv(jamendo_src / "JamendoLyrics.csv")["Filepath"]:
        shutil.copy(jamendo_src / "lyrics" / f"{Path(f).stem}.txt", src / "lyrics")
    for f in MP3S:
        shutil.copy(jamendo_src / "mp3" / f, src / "mp3")
    return src


def _snapshot(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _same_content(a: Path, b: Path, rels) -> bool:
    return all((a / r).read_bytes() == (b / r).read_bytes() for r in rels)


def test_local_fetch_complete_idempotent_and_resumes(small_src, tmp_path, jamendo_src):
    before = _snapshot(small_src)
    dest = tmp_path / "dest"
    res = fetch_jamendo(small_src, dest)
    assert (dest / ".complete").is_file()
    assert len(res["copied"]) == 1 + 79 + 2 and sum(r.startswith("mp3/") for r in res["absent"]) == 77
    manifest = json.loads((dest / ".manifest.json").read_text())
    assert set(manifest["files"]) == set(res["copied"])
    assert _same_content(small_src, dest, manifest["files"])
    df = load_dataset(dest)
    assert len(df) == 79 and df["has_audio"].sum() == 2

    snap = _snapshot(dest)
    again = fetch_jamendo(small_src, dest)
    assert again["copied"] == [] and _snapshot(dest) == snap  # nothing rewritten

    # damage the copy: one lyrics file gone, one mp3 truncated -> only those come back
    lyr = next(iter(sorted(r for r in manifest["files"] if r.startswith("lyrics/"))))
    (dest / lyr).unlink()
    mp3 = dest / "mp3" / MP3S[0]
    mp3.write_bytes(mp3.read_bytes()[:1000])
    fixed = fetch_jamendo(small_src, dest)
    assert set(fixed["copied"]) == {"JamendoLyrics.csv", lyr, f"mp3/{MP3S[0]}"}
    assert _same_content(small_src, dest, manifest["files"]) and (dest / ".complete").is_file()

    # interrupted before .complete: the verified files are kept, not copied again
    (dest / ".complete").unlink()
    assert fetch_jamendo(small_src, dest)["copied"] == ["JamendoLyrics.csv"]
    assert not list(dest.rglob("*.part"))
    assert _snapshot(small_src) == before  # src never modified

    # audio added to the source later is picked up once .complete is removed
    shutil.copy(jamendo_src / "mp3" / "Fantasma_-_Los_Rombos.mp3", small_src / "mp3")
    (dest / ".complete").unlink()
    assert "mp3/Fantasma_-_Los_Rombos.mp3" in fetch_jamendo(small_src, dest)["copied"]
    assert load_dataset(dest)["has_audio"].sum() == 3


@pytest.fixture
def http_base(small_src):
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(small_src))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_http_fetch(http_base, small_src, tmp_path):
    dest = tmp_path / "dest"
    res = fetch_jamendo(http_base, dest)
    assert sorted(r for r in res["copied"] if r.startswith("mp3/")) == sorted(f"mp3/{m}" for m in MP3S)
    assert len(res["copied"]) == 82 and sum(r.startswith("mp3/") for r in res["absent"]) == 77
    files = json.loads((dest / ".manifest.json").read_text())["files"]
    assert _same_content(small_src, dest, files)
    assert fetch_jamendo(http_base, dest)["copied"] == []


def test_http_error_other_than_404_raises(http_base, tmp_path, monkeypatch):
    def boom(self):
        self.send_error(500, "broken")
    monkeypatch.setattr(SimpleHTTPRequestHandler, "do_GET", boom)
    with pytest.raises(DatasetError, match="HTTP 500"):
        fetch_jamendo(http_base, tmp_path / "dest")
    assert not (tmp_path / "dest" / ".complete").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("kind", ["folder", "refused", "dns"])
def test_unreachable_source_says_what_to_do(tmp_path, kind):
    src = {"folder": tmp_path / "nowhere", "refused": f"http://127.0.0.1:{_free_port()}/jamendolyrics",
           "dns": "http://no-such-host.invalid/jamendolyrics"}[kind]  # .invalid never resolves (RFC 2606)
    with pytest.raises(DatasetError) as e:
        fetch_jamendo(src, tmp_path / "dest")
    assert "JAMENDO_SRC" in str(e.value) and "make demo" in str(e.value)


def test_cli_fetch(small_src, tmp_path, capsys):
    from songspace import cli

    assert cli.main(["fetch", "--src", str(small_src), "--dest", str(tmp_path / "d")]) == 0
    assert "copied 82" in capsys.readouterr().err  # the summary is a log line
    assert cli.main(["fetch", "--src", str(tmp_path / "missing"), "--dest", str(tmp_path / "d2")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("songspace: error: ") and "JAMENDO_SRC" in err
