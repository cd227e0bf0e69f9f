"""What the user takes away: cluster song lists, and the musicnn tags that set a cluster apart."""
import re

import numpy as np
import pytest
import pandas as pd
from songspace.evaluation import export, recommendation
from songspace.features import extract


def test_cluster_tags_name_what_sets_each_cluster_apart(tmp_path):
    cols = extract.backend_columns("musicnn-msd")
    tags = [c for c in cols if c.startswith("tag_")]
    assert {"tag_rock", "tag_female_vocalists"} <= set(tags)
    ids = [f"s{i}" for i in range(6)]
    X = np.full((6, len(cols)), 0.1, np.float32)
    X[:, cols.index("tag_rock")] = 0.9  # every song: describes no cluster
    X[:3, cols.index("tag_female_vocalists")] = 0.8
    X[3:, cols.index("tag_electronic")] = 0.7
    X[3:, cols.index("tag_dance")] = 0.6
    pd.concat([pd.DataFrame({"track_id": ids}), pd.DataFrame(X, columns=cols)], axis=1).to_parquet(
        tmp_path / "audio_musicnn-msd_tracks.parquet")
    # one patch per song: the window files load_backend checks the tracks table against
    pd.DataFrame({"track_id": ids, "patch": 0, "start_s": 0.0}).to_parquet(tmp_path / "audio_musicnn-msd_windows.parquet")
    np.save(tmp_path / "audio_musicnn-msd_windows.npy", X)
    clusters = pd.DataFrame({"track_id": ids + ["lyrics_only"], "cluster": [0, 0, 0, 1, 1, 1, 1],
                             "artist": "A", "title": [f"T{i}" for i in range(7)]})
    got = export.cluster_tags(clusters, tmp_path)
    assert got == {0: ["female vocalists"], 1: ["electronic", "dance"]}
    text = export.cluster_lists(clusters, tags=got)
    assert "**cluster 1** (4 songs; musicnn tags above the collection's: *electronic, dance*)" in text and "A – T6" in text
    assert export.cluster_tags(clusters, tmp_path, backend="descriptors") == {}  # no tags: nothing claimed
    assert "musicnn tags" not in export.cluster_lists(clusters)


def test_recommend_passes_over_a_sweep_winner_chosen_on_the_same_labels():
    rows = [("best_mlp_vae_sweep", 0.9), ("mlp_vae", 0.7), ("lyrics_only", 0.6)]
    table = pd.DataFrame([dict(rep=r, method="kmeans", song_set="songs with lyrics", n_items=79, label_column=lab,
                               ami_mean=a) for r, a in rows for lab in ("language", "genre")])
    rec = recommendation.recommend(table)
    assert rec["rep"] == "mlp_vae" and "0.700" in rec["reason"]
    only = table[table["rep"] == "best_mlp_vae_sweep"]
    assert recommendation.recommend(only)["rep"] == "best_mlp_vae_sweep"  # nothing else scored: it is all there is


def test_recommend_compares_every_algorithm_on_the_labels_they_all_have():
    def row(rep, method, label, ami, std=0.01):
        return dict(rep=rep, method=method, family="baseline", song_set="songs", n_items=80, label_column=label,
                    ami_mean=ami, ami_std=std, k=4)
    # K-Means alone scores the 75-class artist label, where it does well; on genre agglomerative is better
    table = pd.DataFrame([row("audio_raw", "kmeans", "genre", 0.50), row("audio_raw", "kmeans", "artist", 0.90)])
    comparison = pd.DataFrame([row("audio_raw", "kmeans", "genre", 0.50), row("audio_raw", "agglomerative", "genre", 0.60)])
    rec = recommendation.recommend(table, comparison)
    assert (rec["method"], rec["labels"]) == ("agglomerative", ["genre"])
    assert "artist" in rec["reason"] and "same labels" in rec["reason"]
    assert recommendation.recommend(table)["labels"] == ["artist", "genre"]  # one algorithm: nothing left out


def test_neighbours_file_is_rescored_as_written():
    tracks = pd.DataFrame({"track_id": ["a", "b", "c", "d"], "genre": ["x", "x", "y", None]})
    near = pd.DataFrame({"track_id": ["a", "a", "b", "b", "c", "d"], "neighbour_id": ["b", "c", "a", "d", "a", "a"]})
    # a: 1 of 2 share x; b: 1 of 1 labelled (d has no genre); c: 0 of 1; d: no genre, not a query
    assert export.rescore_neighbours(near, tracks, "genre") == pytest.approx((0.5 + 1.0 + 0.0) / 3)


def test_a_label_one_algorithm_scored_as_nan_still_counts_for_every_pair():
    def row(rep, method, label, ami):
        return dict(rep=rep, method=method, family="baseline" if rep != "vae" else "model", song_set="s", n_items=80,
                    label_column=label, ami_mean=ami, ami_std=0.01, k=4)
    t = pd.DataFrame([row("audio_raw", "kmeans", "genre", 0.2), row("audio_raw", "kmeans", "language", 0.2),
                      row("vae", "kmeans", "genre", 0.3), row("vae", "kmeans", "language", 0.0),
                      row("audio_raw", "agglomerative", "genre", 0.1), row("audio_raw", "agglomerative", "language", np.nan)])
    rec = recommendation.recommend(t)
    assert rec["labels"] == ["genre", "language"] and rec["rep"] == "audio_raw"


def test_the_report_maps_only_songs_that_some_table_scores():
    """A hybrid model embeds a song with neither usable audio nor lyrics (its input all imputed); no table
    scores it, so the maps leave it out instead of plotting it as a class of its own."""
    from types import SimpleNamespace

    from songspace.evaluation import comparison
    from songspace.evaluation.representation import Representation

    ids = np.array([f"t{i}" for i in range(6)])
    rep = Representation(X=np.arange(12.0).reshape(6, 2), track_ids=ids)
    c = SimpleNamespace(seeds=[0], model_reps={0: {"mlp_vae": rep}}, baseline_reps={"audio_raw": rep.rows(ids != "t5")},
                        song_sets={"songs with audio": ids[:3], "songs with lyrics": ids[2:5]})
    chosen = comparison.map_choice(c, None)
    assert list(chosen["mlp_vae"].track_ids) == ["t0", "t1", "t2", "t3", "t4"]  # t5 has no data
    assert chosen["mlp_vae"].X.shape == (5, 2) and chosen["lyrics_only"] is None
    assert list(chosen["audio_raw"].track_ids) == ["t0", "t1", "t2", "t3", "t4"]


def test_a_label_dbscan_leaves_all_noise_still_counts_and_the_reason_names_the_cause():
    """DBSCAN's rows on a small song set can all be noise (found on a 33-row manifest: language on 6
    songs); it was scored there, so the label stays in the pick, and a label truly not scored is named
    with the algorithms that did not score it."""
    def row(rep, method, label, ami, noise=0.0, k=4):
        return dict(rep=rep, method=method, family="baseline", song_set="songs", n_items=80, label_column=label,
                    ami_mean=ami, ami_std=0.01, k=k, noise_fraction_mean=noise)
    table = pd.DataFrame([row("audio_raw", "kmeans", "genre", 0.5), row("audio_raw", "kmeans", "language", 0.9),
                          row("audio_pca", "kmeans", "genre", 0.5), row("audio_pca", "kmeans", "language", 0.1),
                          row("audio_raw", "kmeans", "artist", 0.3, k=75)])
    comparison = pd.DataFrame([row(r, "dbscan", lab, 0.2, noise=0.5 if lab == "language" else 0.0)
                               for r in ("audio_raw", "audio_pca") for lab in ("genre", "language")])
    rec = recommendation.recommend(table, comparison)
    assert rec["labels"] == ["genre", "language"] and rec["rep"] == "audio_raw"
    assert "artist (75 classes): not scored by dbscan" in rec["reason"] and "language" not in str(
        [p for p in rec["passed_over"] if "not every algorithm" in p])


def test_plain_features_win_a_tie_with_the_autoencoder():
    """The autoencoder is scored as a baseline but its latents need its encoder: a tie goes to the plain
    features, which ``songspace assign`` can place new songs into."""
    rows = [("ae", 0.584, 0.063), ("audio_pca", 0.570, 0.03)]
    table = pd.DataFrame([dict(rep=r, method="kmeans", family="baseline", learned=r == "ae", song_set="songs",
                               n_items=29, k=7, label_column="genre", ami_mean=a, ami_std=s) for r, a, s in rows])
    rec = recommendation.recommend(table)
    assert rec["rep"] == "audio_pca" and "ae kmeans" in rec["ties"]
    assert recommendation.recommend(table.assign(ami_std=0.001))["rep"] == "ae"  # a clear gap still wins
    # a table without the column (written by hand) is read by family, row by row: plain features stay plain
    other = table.drop(columns="learned").assign(method="agglomerative")
    rec = recommendation.recommend(table[table["rep"] == "ae"], other[other["rep"] == "audio_pca"])
    assert (rec["rep"], rec["method"]) == ("audio_pca", "agglomerative")


HOSTILE = ["<img src=x onerror=alert(1)>", "<b>Bold</b> <3", "</script><script>document.title='PWNED'</script>",
           "*NSYNC", "F**k", "_", "[bracket](http://x)", "AT&amp;T #1 `code` $x$ \\ 1. | ~~s~~"]


def _rendered(markdown: str) -> str:
    """The Markdown as report.html shows it: nbconvert's filter for a ``text/markdown`` output."""
    from nbconvert.filters.markdown_mistune import markdown2html_mistune

    return markdown2html_mistune(markdown)


def _text_of(html_text: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


def test_song_names_are_shown_as_text_in_the_rendered_markdown():
    ids = [f"s{i}" for i in range(len(HOSTILE))]
    tracks = pd.DataFrame({"track_id": ids, "display_name": HOSTILE})
    clusters = pd.DataFrame({"track_id": ids, "name": HOSTILE, "cluster": [0] * len(ids)})
    near = pd.DataFrame({"track_id": ids[:1] * 4, "neighbour_id": ids[1:5], "distance": [0.1, 0.2, 0.3, 0.4]})
    for markdown in (export.cluster_lists(clusters, max_songs=len(ids), tags={0: ["<i>tag</i>"]}),
                     export.neighbour_examples(near, tracks, n_neighbours=4)):
        html_text = _rendered(markdown)
        tags = set(re.findall(r"</?([a-zA-Z]+)", html_text))
        assert tags <= {"ul", "li", "strong", "em"}, html_text  # the list's own markup, nothing from a name
        shown = _text_of(html_text)
        for name in HOSTILE if "cluster" in markdown else HOSTILE[:5]:
            assert name in shown, (name, shown)
    assert "<i>tag</i>" in _text_of(_rendered(export.cluster_lists(clusters, tags={0: ["<i>tag</i>"]})))


def test_markdown_text_keeps_a_name_on_its_line():
    assert export.markdown_text("a\nb\t c") == "a b c"
    assert _text_of(_rendered(export.markdown_text("- 1. # > x"))) == "- 1. # > x\n"
