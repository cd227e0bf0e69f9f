"""The report's summary page is written from the numbers: headline, best per family, tables that fit."""
import numpy as np
import pandas as pd
import pytest
from songspace.data import plan
from songspace.report import summary


def _row(rep, fam, col, ami, std=0.01, method="kmeans", p95=0.05, song_set="songs with audio", n=30):
    return {"song_set": song_set, "label_column": col, "rep": rep, "family": fam, "method": method, "norm": "none",
            "dim": 8, "k": 4, "n_items": n, "ami_mean": ami, "ami_std": std, "ami_chance_p95_mean": p95,
            "ami_chance_mean": 0.0, "nmi_mean": ami, "nmi_std": std, "ari_mean": ami, "ari_std": std,
            "purity_mean": 0.5, "purity_std": 0.1, "silhouette_mean": 0.2, "silhouette_std": 0.02}


@pytest.fixture
def table():
    return pd.DataFrame([
        _row("mlp_vae", "model", "genre", 0.50), _row("audio_raw", "baseline", "genre", 0.40),
        _row("lyrics_only", "baseline", "genre", 0.05),
        _row("mlp_vae", "model", "language", 0.30, std=0.05), _row("lyrics_only", "baseline", "language", 0.28),
        _row("audio_raw", "baseline", "language", 0.02),
        _row("audio_raw", "baseline", "genre", 0.9, song_set="songs with lyrics", n=10),  # narrower set: not the headline
    ])


@pytest.fixture
def tracks():
    return pd.DataFrame({"track_id": [str(i) for i in range(30)], "has_audio": True, "has_lyrics": True,
                         "genre": ["a", "b", "c", "d", "e"] * 6, "language": ["en", "fr", "de"] * 10,
                         "artist": "x", "title": "y"})


def _plan(tracks, labels):
    tracks.attrs["label_columns"] = labels
    return plan.Plan.of(tracks)


def test_headline_names_best_margin_over_chance_and_baseline_and_the_vae_verdict(table, tracks):
    text = summary.headline(table, tracks, _plan(tracks, ["genre", "language"]))
    assert "Against **genre** (30 songs, k = 4), `mlp_vae` (model) clusters best, AMI 0.500 ± 0.010" in text
    assert "+0.450 over the 95th percentile" in text and "+0.100 over the best plain baseline `audio_raw`" in text
    assert "on genre the best VAE-family model `mlp_vae` **beats**" in text
    assert "on language the best VAE-family model `mlp_vae` **ties with**" in text  # gap 0.02 < spread 0.05
    assert "helps on some labels only" in text and "songs with audio" in text and "0.900" not in text


def test_headline_says_when_nothing_clears_chance_and_names_ties(table, tracks):
    t = table.assign(ami_chance_p95_mean=0.95)
    assert "**not above chance**" in summary.headline(t, tracks, _plan(tracks, ["genre"]))
    t = table.copy()
    t.loc[t["rep"] == "audio_raw", "ami_mean"] = 0.5
    assert "and 1 other representation(s) tied with it" in summary.headline(t, tracks, _plan(tracks, ["genre"]))


def test_headline_without_labels_or_scores_says_what_it_cannot_answer(tracks):
    none = pd.DataFrame([{**_row("ae", "baseline", "none", np.nan)}])
    what = _plan(tracks, [])
    assert summary.headline(none, tracks, what).startswith("**No labels**")
    assert "too few to cluster" in summary.headline(pd.DataFrame(), tracks, what)
    assert list(summary.best_per_family(none).columns) == ["family", "representation", "dim", "k", "silhouette"]


def test_too_few_to_cluster_counts_the_songs_with_usable_audio_or_lyrics(tracks):
    """13 rows whose files mostly failed (2 with audio, 1 with lyrics, another song): 3 songs, not 13."""
    t = tracks.head(13).assign(has_audio=[True, True] + [False] * 11, has_lyrics=[False, False, True] + [False] * 10)
    text = summary.headline(pd.DataFrame(), t, _plan(t, []))
    assert text.startswith("**3 songs** with usable audio or lyrics: too few to cluster")
    from songspace.data import plan

    assert not plan.Plan.of(t).can_cluster  # the plan counts the same songs


def test_the_caveat_names_classes_as_text(tracks):
    """A class is a user's tag or folder name: "<b>Bold</b>" and "*NSYNC" are shown as written."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    t = tracks.assign(artist=["<b>Bold</b>", "*NSYNC*", "_x_"] * 10)
    shown = markdown2html_mistune(summary.caveat(t, _plan(t, ["artist"])))
    assert "<b>" not in shown and "&lt;b&gt;Bold&lt;/b&gt; 10" in shown and "*NSYNC* 10" in shown and "_x_ 10" in shown
    assert set(t["artist"]) == {"<b>Bold</b>", "*NSYNC*", "_x_"}  # the caller's table is left as it was


def test_best_per_family_one_row_per_label_and_family(table):
    best = summary.best_per_family(table)
    assert list(best[["label", "family", "representation"]].itertuples(index=False, name=None)) == [
        ("genre", "baseline", "audio_raw"), ("genre", "model", "mlp_vae"),
        ("language", "baseline", "lyrics_only"), ("language", "model", "mlp_vae")]
    assert best.loc[1, "over chance"] == pytest.approx(0.45) and best.loc[1, "AMI"] == "0.500 ± 0.010"


def test_appendix_table_and_html_table_fit_the_page(table):
    app = summary.appendix_table(table)
    assert len(app) == len(table) and "AMI p95 chance" in app and "index" not in app.columns
    assert list(app.columns[:3]) == ["song_set", "label", "representation"]
    html = summary.html_table(app)
    assert "ss-table-wrap wide" in html and "<th></th>" not in html  # landscape, no index column
    # a model's own clusters at several k: each row gets its own chance level, a number
    own = pd.DataFrame([{**_row("vade[own]", "model", "genre", 0.3, method="own", p95=p), "k": k}
                        for k, p in [(2, 0.25), (3, 0.125)]])
    app = summary.appendix_table(pd.concat([table, own], ignore_index=True))
    assert app.loc[app["representation"] == "vade[own]", ["k", "AMI p95 chance"]].values.tolist() == [[2, 0.25], [3, 0.125]]
    small = summary.html_table(pd.DataFrame({"a": [1.23456]}), max_rows=None)
    assert "wide" not in small and "1.235" in small
    assert "1 more rows" in summary.html_table(pd.DataFrame({"a": [1, 2]}), max_rows=1)


def test_findings_without_caveat_leaves_it_to_the_limits_section(table, tracks):
    what = _plan(tracks, ["genre", "language"])
    settings = {"lyrics_backends": ["tfidf"], "lyrics_backend": "tfidf"}
    full = summary.findings(table, tracks, what, settings)
    short = summary.findings(table, tracks, what, settings, with_caveat=False)
    cav = summary.caveat(tracks, what)
    assert cav in full and cav not in short and "What can be concluded" not in short
    assert "Does the VAE beat its baselines?" in short


def test_data_table_and_validation_line(tracks):
    what = _plan(tracks, ["genre"])
    d = summary.data_table(tracks, what)
    assert d.iloc[0].tolist() == ["songs", 30] and d.iloc[-1]["count"] == "5 (6–6 songs)"
    v = pd.DataFrame({"problem": ["missing_file", "missing_file", "silent"], "modality": ["audio", "audio", "audio"],
                      "detail": ["", "", ""]})
    assert summary.validation_line(v).startswith("Validation: 3 file problem(s): 2 × missing_file (audio); 1 × silent")
    assert "without a value" not in summary.validation_line(v)
    assert "no problem" in summary.validation_line(pd.DataFrame())


def test_validation_line_counts_label_gaps_apart_from_file_problems():
    """An untagged library has a missing_label row per song and column; the line must not bury the files'."""
    from songspace.data.validation import MISSING_LABEL as gap
    v = pd.DataFrame({"problem": ["too_short"] + ["missing_label"] * 5, "modality": ["audio"] + ["label"] * 5,
                      "detail": ["1.5 s < 3.0 s"] + [gap.format("genre")] * 3 + [gap.format("artist")] * 2})
    line = summary.validation_line(v)
    assert line.startswith("Validation: 1 file problem(s): 1 × too_short (audio).")
    assert "scored without that label: genre 3, artist 2." in line
    only_gaps = summary.validation_line(v.iloc[1:])
    assert only_gaps.startswith("Validation found no problem with any file.") and "genre 3" in only_gaps


def test_a_model_that_beats_the_baseline_below_chance_does_not_help(table, tracks):
    t = table.assign(ami_chance_p95_mean=0.6, ami_chance_mean=0.55)  # a permutation width (0.05) below the gap
    text = summary.headline(t, tracks, _plan(tracks, ["genre", "language"]))
    assert "**beats (but does not clear chance)**" in text and "The VAE does not help" in text


def test_headline_reads_its_own_rows_chance_and_ties_by_the_noise_level(table, tracks):
    t = pd.concat([table, pd.DataFrame([
        _row("ae", "baseline", "genre", 0.49, p95=0.6),  # a tie within the spread, whose chance is high
        _row("best_mlp_vae_sweep", "model", "genre", 0.95),  # picked on these labels: never the headline
        _row("vade[own]", "model", "genre", 0.99, method="own") | {"k": 7},  # its own k: not comparable
    ])], ignore_index=True)
    text = summary.headline(t, tracks, _plan(tracks, ["genre"]))
    assert "`mlp_vae` (model) and 1 other representation(s) tied with it within the noise level" in text
    assert "+0.450 over the 95th percentile of label permutations (0.050)" in text  # mlp_vae's p95, not ae's 0.6
    assert "best_mlp_vae_sweep" not in text and "vade" not in text


def test_a_gap_inside_the_permutation_width_is_a_tie_though_it_clears_the_seed_spread():
    from songspace.evaluation import verdicts

    # Emotify's decade (373 of 400 songs in one decade): every seed finds nearly the same clusters, so the seed
    # stds are tiny, but permuting the labels alone moves AMI by 0.008
    vae = pd.Series(_row("beta_vae", "model", "decade", 0.0125, std=0.0021, p95=0.0080) | {"ami_chance_mean": -0.0003})
    pca = pd.Series(_row("audio_pca", "baseline", "decade", 0.0094, std=0.0000, p95=0.0077) | {"ami_chance_mean": 0.0002})
    word, gap, noise = verdicts.verdict(vae, pca)
    assert word == "ties with" and gap == pytest.approx(0.0031) and noise == pytest.approx(0.0083)
    assert "gap +0.003 against a noise level of 0.008 (the larger seed std 0.002, permutation width 0.008)" in \
        verdicts.gap_words(vae, pca)
    assert verdicts.verdict(vae.drop(["ami_chance_mean", "ami_chance_p95_mean"]),
                            pca.drop(["ami_chance_mean", "ami_chance_p95_mean"]))[0] == "beats"  # seed spread alone
    # nearly one song a cluster: rare high permutations pull the mean above the 95th percentile; no negative width
    assert verdicts.permutation_width(pd.Series({"ami_chance_mean": 0.002, "ami_chance_p95_mean": -0.001})) == 0.0


def test_findings_sentences_apply_the_tie_rule_and_say_what_cannot_be_measured():
    from songspace.evaluation import verdicts

    rows = [_row("audio_raw", "baseline", "genre", 0.49, std=0.0) | {"p_at_10_mean": 0.50, "p_at_10_std": 0.0},
            _row("nc_vae", "model", "genre", 0.35, std=0.165) | {"p_at_10_mean": 0.45, "p_at_10_std": 0.1},
            _row("best_mlp_vae_sweep", "model", "genre", 0.9) | {"p_at_10_mean": 0.9, "p_at_10_std": 0.0}]
    s = pd.DataFrame(rows).assign(p_at_10_chance_mean=0.2)
    (line,) = verdicts.modality_contribution(s, {"audio": "audio_raw", "nc": "nc_vae"}, "songs")
    assert "Most informative: `audio_raw`, tied within the noise level with `nc_vae`" in line
    (line,) = verdicts.vae_vs_baselines(s, "songs")
    assert "`nc_vae`" in line and "best_mlp_vae_sweep" not in line and "**ties with**" in line
    (line,) = verdicts.retrieval(s, "songs", artist_filtered=False)
    assert "`audio_raw`, tied within the noise level with `nc_vae`" in line
    (line,) = verdicts.retrieval(s.assign(n_items=10), "songs", artist_filtered=False)
    assert "cannot tell representations apart" in line
    # an album inside its artist, with the query's own artist left out: no candidate can share it
    (line,) = verdicts.retrieval(s.assign(p_at_10_mean=0.0, p_at_10_chance_mean=0.0, label_column="album"), "songs",
                                 artist_filtered=True)
    assert "measures nothing here" in line and "own artist" in line and "most often" not in line
    one = pd.DataFrame(rows + [_row("conv_beta_vae", "model", "genre", 0.6, std=np.nan)]).assign(
        p_at_10_chance_mean=0.2, n_seeds=[5, 5, 5, 1])
    assert "conv_beta_vae" not in verdicts.vae_vs_baselines(one, "songs")[0]  # one seed: no spread to judge by


def test_the_algorithm_table_says_what_dbscan_left_out():
    from songspace.evaluation.comparison import algorithm_pivot

    c = pd.DataFrame([_row("a", "baseline", "genre", 0.5) | {"n_seeds": 2, "ami_n_nan": 0},
                      _row("a", "baseline", "genre", 0.9, method="dbscan") | {"n_seeds": 2, "ami_n_nan": 1,
                                                                              "noise_fraction_mean": 0.25}])
    p = algorithm_pivot(c, True)
    assert p["dbscan noise"].iloc[0] == 0.25 and p["dbscan seeds"].iloc[0] == "1 of 2"


def test_the_take_home_precision_line_says_which_label_it_cannot_measure():
    from types import SimpleNamespace

    from songspace.report import sections

    t = pd.DataFrame({"rep": "audio_pca", "method": "kmeans", "song_set": "songs", "label_column": ["album", "genre"],
                      "p_at_10_mean": [0.0, 0.72], "p_at_10_chance_mean": [0.0, 0.25]})
    line = sections._retrieval_line(SimpleNamespace(recommended={"rep": "audio_pca", "song_set": "songs"}, table=t))
    assert "album not measurable" in line and "genre 0.720 (random neighbours 0.250)" in line


def test_the_method_paragraph_is_read_from_the_run_not_written_in_the_notebook(tmp_path):
    import json
    from types import SimpleNamespace

    from songspace.report import sections

    (tmp_path / "features.json").write_text(json.dumps({"params": {"musicnn_max_patches": 7},
                                                        "audio_backends": ["descriptors", "musicnn-msd"]}))
    run = tmp_path / "conv_vae-s0-x"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"model_config": {"encoder": "musicnn-msd", "input_shape": [1, 32, 64]}}))
    runs_index = pd.DataFrame({"model": ["nc_vae", "cvae_genre", "conv_vae"], "run_dir": ["a", "b", str(run)]})
    r = SimpleNamespace(dirs={"processed": tmp_path}, plan=SimpleNamespace(has_audio=True, has_lyrics=False),
                        runs=runs_index)
    (md,) = sections.method_section(r, {"audio_backend": "musicnn-msd", "lyrics_backend": "e5"})
    text = md.data
    assert "at most 7 of them" in text and "neighbour-consistency VAE" in text and "CVAE conditioned on genre" in text
    assert "linear head on `musicnn-msd`" in text and "32×64 log-mel patch" in text and "Lyrics" not in text
    r.plan.has_lyrics, r.runs = True, runs_index.iloc[:1]
    (md,) = sections.method_section(r, {"audio_backend": "musicnn-msd", "lyrics_backend": "e5"})
    assert "with `e5`" in md.data and "ConvVAE" not in md.data


def test_findings_judge_the_vae_under_each_other_algorithm_but_not_dbscan(table, tracks):
    from songspace.evaluation import verdicts

    what = _plan(tracks, ["genre"])
    settings = {"lyrics_backends": ["tfidf"], "lyrics_backend": "tfidf"}
    algos = pd.DataFrame([
        _row("vade", "model", "genre", 0.52, std=0.011, method="agglomerative"),
        _row("audio_pca", "baseline", "genre", 0.49, std=0.0, method="agglomerative"),
        _row("audio_raw", "baseline", "genre", 0.50, std=0.0, method="agglomerative"),
        _row("nc_vae", "model", "genre", 0.54, std=0.02, method="gmm"),
        _row("audio_raw", "baseline", "genre", 0.54, std=0.003, method="gmm"),
        _row("nc_vae", "model", "genre", 0.9, std=0.0, method="dbscan"),  # AMI on the songs it kept
        _row("audio_raw", "baseline", "genre", 0.1, std=0.0, method="dbscan"),
    ]).assign(ami_chance_p95_mean=0.008)
    text = summary.findings(table, tracks, what, settings, algorithms=algos)
    assert ("| songs with audio | genre | Ward | `vade` 0.520 ± 0.011 | `audio_raw` 0.500 ± 0.000 | **beats** | "
            "+0.020 | 0.011 |") in text
    assert "| songs with audio | genre | Gaussian mixture | `nc_vae` 0.540 ± 0.020 | `audio_raw` 0.540 ± 0.003 | **ties with** |" in text
    assert "dbscan" not in text.lower() and "0.900 ± 0.000" not in text
    assert "Under the other clustering algorithms" not in summary.findings(table, tracks, what, settings)
    piped = verdicts.other_algorithms_table({"songs|all": algos})
    assert "| songs\\|all | genre | Ward |" in piped and piped.count("\n") == 3  # header, rule, Ward, GMM
    # the K-Means sentence names no algorithm
    assert "(songs with audio, 30 songs, k=4): the best model, `mlp_vae`" in text


def test_precision_with_no_candidate_of_the_label_reads_na_not_zero(table):
    # every album inside one artist: no query has a same-album candidate once its artist is left out
    t = table.assign(p_at_10_mean=0.6, p_at_10_std=0.01, p_at_10_chance_mean=0.2, p_at_10_chance_std=0.0)
    t.loc[t["label_column"] == "language", ["p_at_10_mean", "p_at_10_std", "p_at_10_chance_mean"]] = 0.0
    app = summary.appendix_table(t)
    assert set(app.loc[app["label"] == "language", "p_at_10"]) == {"n/a"}
    assert set(app.loc[app["label"] == "genre", "p_at_10"]) == {"0.600 ± 0.010"}
    assert (t["p_at_10_mean"] == 0).sum() == 3  # the table itself keeps its numbers


def test_the_findings_count_the_usable_songs_when_there_are_too_few(tracks):
    from songspace.evaluation import verdicts

    t = tracks.head(13).assign(has_audio=[True, True] + [False] * 11, has_lyrics=[False, False, True] + [False] * 10)
    assert verdicts.findings({}, t, []).startswith("The collection has 3 songs with usable audio or lyrics")
