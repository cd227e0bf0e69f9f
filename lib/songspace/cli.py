"""The ``songspace`` command: the pipeline's command-line steps behind one entry point.

::

    songspace fetch    --src SRC --dest DIR        copy JamendoLyrics (folder or URL), verified, resumable
    songspace scan     SRC --out DIR               load + validate a collection, write interim files
    songspace synth    --out DIR                   the synthetic dataset with planted genres/languages
    songspace features INTERIM --out DIR           audio features and lyrics embeddings
    songspace report   --executed NB --out-dir DIR report.html and report.pdf from an executed notebook
    songspace assign   NEW --results DIR           place new songs into a run's recommended clusters

``songspace SUBCOMMAND --help`` describes each. A user error (a missing path, a bad dataset, a bad
argument) prints one line, ``songspace: error: ...``, on stderr and exits with code 2; ``-v``
shows DEBUG messages and, for errors, the traceback. ``python -m songspace.report.render`` and
``python -m songspace.data.synthetic`` still work and take the same options.
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from songspace.log import setup_logging

__all__ = ["main", "build_parser", "UsageError"]

log = logging.getLogger(__name__)
PROG = "songspace"


class UsageError(Exception):
    """A mistake in what the user asked for; reported as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse whose errors are one line (``songspace: error: ...``) instead of usage + message."""

    def error(self, message):  # noqa: D401 - argparse API
        self.exit(2, f"{PROG}: error: {message} (see: {self.prog} --help)\n")


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the input is wrong", not "songspace is broken" (imported lazily)."""
    from songspace.data.loading import DatasetError
    from songspace.evaluation.assign import AssignError
    from songspace.features.lyrics_models import LyricsModelError

    errors = [UsageError, DatasetError, LyricsModelError, AssignError, FileNotFoundError, NotADirectoryError]
    try:
        from songspace.report.printing import ReportError
        errors.append(ReportError)
    except ImportError:  # nbconvert missing: the report command says so itself
        pass
    return tuple(errors)


# ---------------------------------------------------------------- subcommands

def _cmd_fetch(a) -> int:
    from songspace.data.fetch import fetch_jamendo

    res = fetch_jamendo(a.src, a.dest, verbose=a.verbose)
    n_mp3 = sum(r.startswith("mp3/") for r in res["absent"])
    log.info("fetch %s -> %s: copied %d, already verified %d; absent in source: %d mp3s "
             "(not every copy has audio), %d optional files",
             a.src, a.dest, len(res["copied"]), len(res["kept"]), n_mp3, len(res["absent"]) - n_mp3)
    return 0


def _cmd_scan(a) -> int:
    import pandas as pd

    from songspace.data import loading, validation

    src = Path(a.src)
    if not src.exists():
        raise UsageError(f"{src}: no such dataset folder or manifest file")
    labels = [c.strip() for c in a.labels.split(",") if c.strip()] if a.labels else None
    df, report = validation.validate(loading.load_dataset(src, allow_outside=a.allow_outside, label_columns=labels),
                                     min_duration_s=a.min_duration, check_silence=not a.quick)
    paths = loading.write_interim(df, report, a.out)
    counts = validation.report_summary(report)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        print(validation.class_counts(df).to_string(index=False))
        print()
        print(counts.to_string() if len(counts) else "validation: no problems")
    n_prob = len(report)
    print(f"{len(df)} tracks: {int(df['has_audio'].sum())} with audio, {int(df['has_lyrics'].sum())} with lyrics; "
          f"{n_prob} problem{'s' if n_prob != 1 else ''} (details in {paths['validation']})")
    print(f"wrote {paths['tracks']} and {paths['validation']}")
    return 0


def _cmd_synth(a) -> int:
    import pandas as pd

    from songspace.data import synthetic

    path = synthetic.run(a)
    m = pd.read_csv(path)
    print(f"wrote {len(m)} tracks to {path.parent}: "
          + ", ".join(f"{k}={v}" for k, v in m["genre"].value_counts().items()))
    return 0


def _cmd_features(a) -> int:
    from songspace import config
    from songspace.data import loading
    from songspace.features import audio, extract, lyrics

    interim = Path(a.interim)
    if not interim.is_dir():
        raise UsageError(f"{interim}: no such interim folder (write one with `songspace scan SRC --out {interim}`)")
    if a.no_audio and a.no_lyrics:
        raise UsageError("--no-audio and --no-lyrics together leave nothing to do")
    tracks = loading.read_tracks(interim)
    settings = config.profile(a.profile)
    out = Path(a.out)
    cache_dir = Path(a.cache_dir) if a.cache_dir else interim / "cache"
    if not a.no_audio:
        params = audio.AudioParams(**settings["audio"])
        st = extract.extract_audio(tracks, params, out, n_jobs=a.n_jobs, scheduler=a.scheduler, cache_dir=cache_dir)
        print(f"audio: {st['n_ok']} of {st['n_tracks']} tracks with audio, {st['n_windows']} windows, "
              f"{st['n_failed']} failed ({st.get('x_realtime', float('nan')):.0f}x realtime)")
    if not a.no_lyrics:
        for backend in a.lyrics_backend or settings["lyrics_backends"]:
            res = lyrics.extract_lyrics(tracks, backend, out, cache_dir=cache_dir)
            print(f"lyrics {backend}: {res['emb'].shape[0]} songs x {res['dim']} dims, "
                  f"{int(res['mask'].sum())} with lyrics")
    print(f"wrote features to {out}")
    return 0


def _cmd_report(a) -> int:
    from songspace.report import render

    for k, v in render.run(a).items():
        if v is not None:
            print(f"wrote {v}")
    return 0


def _cmd_assign(a) -> int:
    from songspace.evaluation import assign

    results = Path(a.results)
    if not results.is_dir():
        raise UsageError(f"{results}: no such results folder")
    table, st = assign.assign(a.new, results, a.out, n_jobs=a.n_jobs)
    print(f"{st['n_placed']} of {st['n_songs']} songs placed into the clusters of {st['rep']} ({st['method']}), "
          f"by {st['placed_by']}; features {st['extract_s']:.1f} s, placing {st['place_s']:.2f} s")
    for r in table.head(a.show).itertuples():
        near = "; ".join(str(getattr(r, f"neighbour_{j}", None)) for j in (1, 2, 3)
                         if isinstance(getattr(r, f"neighbour_{j}", None), str))
        where = f"cluster {r.cluster}" if r.placed_by else f"not placed ({r.problem})"
        print(f"  {r.name}: {where}" + (f"; nearest: {near}" if near else ""))
    print(f"wrote {st['path']}")
    return 0 if st["n_placed"] or not st["n_songs"] else 1  # nothing placed: a script should see it


# ---------------------------------------------------------------- parser

def _add_report_arguments(p) -> None:
    from songspace.report import render

    render.add_arguments(p)


def _add_synth_arguments(p) -> None:
    from songspace.data import synthetic

    synthetic.add_arguments(p)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    """The ``songspace`` argument parser (subcommands fetch, scan, synth, features, report, assign)."""
    verbose = _Parser(add_help=False)
    # SUPPRESS: `songspace -v scan ...` and `songspace scan -v ...` both work (the subparser's
    # default would otherwise overwrite the top-level flag).
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="DEBUG messages, and the traceback of an error")

    ap = _Parser(prog=prog, description="The songspace pipeline's command-line steps: fetch or synthesise a "
                 "collection, scan (validate) it, extract features, render the report.",
                 epilog="`songspace SUBCOMMAND --help` describes each subcommand.")
    ap.add_argument("-v", "--verbose", action="store_true", default=False,
                    help="DEBUG messages, and the traceback of an error")
    sub = ap.add_subparsers(dest="command", metavar="SUBCOMMAND", required=True)

    def add(name, func, help, description=None):
        p = sub.add_parser(name, parents=[verbose], help=help, description=description or help)
        p.set_defaults(func=func)
        return p

    p = add("fetch", _cmd_fetch, "copy JamendoLyrics from a folder or URL (verified, resumable)",
            "Copy JamendoLyrics (CSV, lyrics, mp3s where present) from a local folder or an http(s) base "
            "URL into DEST; files are checked by size and sha256, a re-run copies only what is missing.")
    p.add_argument("--src", required=True, help="JamendoLyrics folder or base URL")
    p.add_argument("--dest", required=True, help="target folder, e.g. data/raw/jamendolyrics")

    p = add("scan", _cmd_scan, "load and validate a collection; write tracks.parquet and validation.csv",
            "Load a collection (a folder of audio files, a JamendoLyrics folder, or a manifest CSV with "
            "track_id, audio_path, lyrics_path or lyrics, and label columns), check every audio and lyrics "
            "file, print track counts per label class and the problem counts, and write OUT/tracks.parquet "
            "and OUT/validation.csv. The collection is only read.")
    p.add_argument("src", help="collection folder (audio files, or JamendoLyrics.csv / manifest.csv inside) "
                               "or a manifest CSV")
    p.add_argument("--out", required=True, help="interim folder to write, e.g. data/interim/<name>")
    p.add_argument("--min-duration", type=float, default=3.0, help="seconds; shorter audio is too_short (3)")
    p.add_argument("--labels", default=None, metavar="COL,COL",
                   help="label columns to count and score (default: every label-like column)")
    p.add_argument("--allow-outside", action="store_true",
                   help="let manifest paths point outside the collection folder (default: refused per row)")
    p.add_argument("--quick", action="store_true",
                   help="only open audio headers (faster; misses silent and truncated files)")

    p = add("synth", _cmd_synth, "write the synthetic dataset (genre planted in audio, language in lyrics)")
    _add_synth_arguments(p)

    p = add("features", _cmd_features, "audio features and lyrics embeddings of a scanned collection",
            "Extract audio features (windows, descriptors, log-mel patches) and lyrics embeddings of the "
            "tracks in INTERIM (written by `songspace scan`) into OUT, with the parameters of a profile.")
    p.add_argument("interim", help="folder holding tracks.parquet (from `songspace scan`)")
    p.add_argument("--out", required=True, help="features folder, e.g. data/processed/<name>")
    p.add_argument("--profile", choices=["full", "tiny"], default="full",
                   help="audio parameters and lyrics backends of songspace.config (full)")
    p.add_argument("--lyrics-backend", action="append", metavar="BACKEND",
                   help="e5, minilm, tfidf or st:<name-or-path>; repeatable (default: the profile's)")
    p.add_argument("--no-audio", action="store_true", help="skip audio features")
    p.add_argument("--no-lyrics", action="store_true", help="skip lyrics embeddings")
    p.add_argument("--n-jobs", type=int, default=-1, help="local worker processes (-1: all cores)")
    p.add_argument("--scheduler", default=None, help="dask.distributed scheduler address (else local)")
    p.add_argument("--cache-dir", default=None, help="per-track cache (default INTERIM/cache)")

    p = add("report", _cmd_report, "report.html and report.pdf from an executed report notebook")
    _add_report_arguments(p)

    p = add("assign", _cmd_assign, "place new songs into the recommended clusters of a finished run",
            "Extract the features of NEW with the run's saved parameters, place each song into the "
            "recommended clustering (the algorithm's own predict, or the nearest cluster centre in the "
            "scored geometry where it has none; the output says which), list its nearest songs of the "
            "collection and write assigned.csv. Nothing is retrained.")
    p.add_argument("new", help="an audio file, a folder of audio files, or a manifest CSV")
    p.add_argument("--results", required=True, help="the run's results folder (holding assign/ and clusters.csv)")
    p.add_argument("--out", default=None, help="CSV to write (default: RESULTS/assigned.csv)")
    p.add_argument("--n-jobs", type=int, default=1, help="feature-extraction worker processes (1)")
    p.add_argument("--show", type=int, default=20, help="songs listed on screen (20)")
    return ap


def main(argv: list[str] | None = None) -> int:
    """Run ``songspace`` with ``argv`` (default ``sys.argv[1:]``); returns the exit code.

    0: done; 2: a user error (one ``songspace: error: ...`` line on stderr) or a bad argument;
    ``--help`` prints help and returns 0. Anything else is a bug and raises with its traceback.
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        a = parser.parse_args(argv)
    except SystemExit as e:  # --help (0) or a bad argument (2, message already printed)
        return e.code if isinstance(e.code, int) else 2
    verbose = bool(getattr(a, "verbose", False))
    setup_logging(logging.DEBUG if verbose else logging.INFO)
    try:
        return int(a.func(a) or 0)
    except _user_errors() as e:
        if verbose:
            log.debug("traceback of the error below", exc_info=True)
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if isinstance(e, FileNotFoundError) and e.filename and e.filename not in msg:
            msg = f"{e.filename}: {msg}"
        print(f"{PROG}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
