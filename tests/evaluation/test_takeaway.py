"""One path from the table to the file: clusters.csv re-scored gives the table's number; the recommendation
picks a (representation, algorithm) pair by the seed-spread rule, and a label-free criterion finds planted
structure; neighbours live in the representation's own geometry."""
import json

import numpy as np
import pandas as pd
import pytest
from planted import planted
from sklearn.metrics import adjusted_rand_score
from sklearn.metrics.pairwise import cosine_distances

from songspace.evaluation import compare, export, neighbours, recommendation
from songspace.evaluation.representation import Representation

SET = "songs with audio"


def collection(noise=1.2, seed=0):
    """54 planted songs (3 genres) + 5 songs with no data; an embedding whose tiny noise columns z-scoring
    would blow up to full weight, and a model's latents that cover every track (the no-data ones too)."""
    audio, _, genre, _, ids = planted(n_per_cell=6, windows=1, noise=noise, seed=seed)
    rng = np.random.default_rng(seed)
    n = len(ids)
    emb = np.hstack([audio, 1e-3 * rng.normal(size=(n, 60))])
    extra = [f"nodata{i}" for i in range(5)]
    all_ids = np.array(list(ids) + extra)
    tracks = pd.DataFrame({"track_id": all_ids, "genre": [f"g{g}" for g in genre] + ["g0"] * 5,
                           "artist": [f"a{i % 18}" for i in range(n)] + ["x"] * 5,
                           "title": [f"t{i}" for i in range(n + 5)]})
    base = {"audio_raw": Representation(emb, ids, "baseline", "audio", "l2", backend="musicnn-msd")}
    models = {}
    for s in range(3):
        Z = rng.normal(size=(n + 5, 4))
        Z[:n, :3] += 2.0 * np.eye(3)[genre]
        models[s] = {"mlp_vae": Representation(Z, all_ids, "model", "hybrid", "none")}
    return tracks, base, models, np.array(ids), genre


def scored(tracks, base, models, songs, columns=("genre",), methods=("kmeans",)):
    long = compare.score(models, base, tracks, list(columns), songs, methods=methods, seeds=[0, 1, 2], n_perm=20)
    long["song_set"] = SET
    return long, compare.summarise(long).assign(song_set=SET)


def test_clusters_csv_rescored_gives_the_tables_number_and_no_cluster_without_data(tmp_path):
    tracks, base, models, songs, _ = collection()
    long, table = scored(tracks, base, models, songs)
    rec, _ = export.write({**base, **models[0]}, tracks, table, {SET: songs}, tmp_path, seed=0)
    clusters = pd.read_csv(tmp_path / "clusters.csv", dtype={"track_id": str})
    on_disk = json.loads((tmp_path / "recommended.json").read_text())
    for name, column in [(rec["rep"], "cluster")] + [(r, f"cluster_{r}") for r in ("audio_raw", "mlp_vae")
                                                       if r != rec["rep"]]:
        seed0 = long[(long["rep"] == name) & (long["seed"] == 0) & (long["method"] == "kmeans")]["ami"].iloc[0]
        assert export.rescore(clusters, tracks, "genre", column) == pytest.approx(seed0, abs=1e-12)
    row = table[(table["rep"] == rec["rep"]) & (table["method"] == rec["method"])].iloc[0]
    assert on_disk["ami_mean"] == pytest.approx(row["ami_mean"]) and on_disk["ami_std"] == pytest.approx(row["ami_std"])
    assert on_disk["ami_file"] == pytest.approx(export.rescore(clusters, tracks, "genre"))
    near = pd.read_csv(tmp_path / "neighbours.csv", dtype={"track_id": str, "neighbour_id": str})
    assert on_disk["p_at_k_file"] == pytest.approx(export.rescore_neighbours(near, tracks, "genre"))
    assert on_disk["p_at_k_row"] == pytest.approx(row["p_at_10_mean"])
    assert {"rep", "method", "k", "seed", "song_set", "label_column", "n_items"} <= set(on_disk)
    # the songs no representation has data for get no cluster in any column, and use up none of the k
    nodata = clusters["track_id"].str.startswith("nodata")
    cols = [c for c in clusters if c.startswith("cluster")]
    assert len(cols) == 2 and clusters.loc[nodata, cols].isna().all().all()
    assert clusters.loc[~nodata, "cluster"].nunique() == rec["k"] == 3
    # the old way (z-scoring every representation) does not give the table's number on this embedding
    from songspace.evaluation import cluster, metrics
    X, ids = export.song_level(base["audio_raw"], songs)
    z = cluster.fit_predict(X, "kmeans", k=3, seed=0)
    y = tracks.set_index("track_id").loc[ids, "genre"].to_numpy()
    audio_row = long[(long["rep"] == "audio_raw") & (long["seed"] == 0)]["ami"].iloc[0]
    assert abs(metrics.external_metrics(y, z)["ami"] - audio_row) > 0.05


def pair_table(rows):
    return pd.DataFrame([dict(rep=r, method=m, song_set=SET, n_items=100, label_column="genre", k=10, ami_mean=a,
                              ami_std=s, noise_fraction_mean=nf, n_seeds=5) for r, m, a, s, nf in rows])


def test_the_file_is_the_median_seed_of_the_row_and_the_export_re_scores_every_seed(tmp_path):
    tracks, base, models, songs, _ = collection(noise=2.0)
    long, table = scored(tracks, base, models, songs)
    by_seed = {s: {**base, **models[s]} for s in models}
    table = table[table["rep"] == "mlp_vae"]  # a model: seeds differ in latents and clusters
    rec, clusters = export.write(by_seed[0], tracks, table, {SET: songs}, tmp_path, reps_by_seed=by_seed)
    per_seed = long[(long["rep"] == "mlp_vae") & (long["method"] == "kmeans")].set_index("seed")["ami"]
    assert rec["ami_seeds"] == pytest.approx({str(s): v for s, v in per_seed.items()}) and rec["matches_row"]
    assert per_seed.nunique() == 3 and rec["ami_file"] == pytest.approx(per_seed.median())
    assert rec["seed"] == int(per_seed.sort_values().index[1])
    assert "the median of the seeds" in export.take_away_text(rec)


def test_recommend_picks_the_pair_by_the_seed_spread_rule():
    kmeans = [("audio_raw", "kmeans", 0.866, 0.011, 0.0), ("mlp_vae", "kmeans", 0.80, 0.02, 0.0)]
    algos = [("audio_raw", "spectral", 0.900, 0.0, 0.0), ("audio_raw", "dbscan", 0.99, 0.0, 0.4)]
    rec = recommendation.recommend(pair_table(kmeans), pair_table(algos))
    assert (rec["rep"], rec["method"]) == ("audio_raw", "spectral") and rec["ami_mean"] == 0.9
    assert "noise" in rec["reason"]  # DBSCAN's AMI on the songs it kept is not a clustering of all of them
    tied = [("audio_raw", "spectral", 0.870, 0.03, 0.0)]
    rec = recommendation.recommend(pair_table(kmeans), pair_table(tied))
    assert (rec["rep"], rec["method"]) == ("audio_raw", "kmeans") and "within the seed spread" in rec["reason"]
    # a model whose wide seed spread only ties with the best plain features does not displace them
    wide = pair_table([("audio_raw", "spectral", 0.67, 0.0, 0.0), ("mlp_vae", "gmm", 0.62, 0.097, 0.0),
                       ("audio_raw", "kmeans", 0.62, 0.0, 0.0)])
    wide["family"] = ["baseline", "model", "baseline"]
    rec = recommendation.recommend(wide)
    assert (rec["rep"], rec["method"]) == ("audio_raw", "spectral") and "mlp_vae gmm" in rec["ties"]
    # the pick is a choice, not a claim: a gap beyond the seed spread wins though it is inside the permutation
    # width the verdicts also read (the clusterings of one song set mostly agree)
    close = pair_table([("audio_raw", "spectral", 0.33, 0.0, 0.0), ("audio_raw", "kmeans", 0.30, 0.005, 0.0)])
    rec = recommendation.recommend(close.assign(ami_chance_mean=0.0, ami_chance_p95_mean=0.05))
    assert (rec["rep"], rec["method"]) == ("audio_raw", "spectral") and not rec["ties"]


def test_label_free_criterion_finds_planted_structure(tmp_path):
    """No labels: the silhouette in each representation's own geometry picks the planted clustering."""
    tracks, base, models, songs, genre = collection(noise=0.4)
    rng = np.random.default_rng(1)
    base["audio_noise"] = Representation(rng.normal(size=(len(songs), 12)), songs, "baseline", "audio", "zscore")
    long, table = scored(tracks.drop(columns="genre"), base, models, songs, columns=(),
                         methods=("kmeans", "agglomerative", "spectral"))
    rec, clusters = export.write({**base, **models[0]}, tracks, table, {SET: songs}, tmp_path, seed=0)
    assert rec["criterion"] == "silhouette" and rec["label_column"] is None and "silhouette" in rec["reason"]
    c = clusters.set_index("track_id").loc[songs, "cluster"].to_numpy()
    assert adjusted_rand_score(genre, c) >= 0.9, rec


def test_neighbours_are_in_the_representations_own_geometry(tmp_path):
    tracks, base, _, songs, _ = collection()
    near = export.neighbour_table(base["audio_raw"], songs, tracks)
    X, ids = export.song_level(base["audio_raw"], songs)
    D = cosine_distances(X)
    np.fill_diagonal(D, np.inf)
    first = near[near["rank"] == 1].set_index("track_id")
    assert list(first.loc[ids, "neighbour_id"]) == list(ids[D.argmin(1)])
    assert np.allclose(first.loc[ids, "distance"], D.min(1)) and (near["metric"] == "cosine").all()
    assert near.groupby("track_id").size().eq(10).all() and (near["track_id"] != near["neighbour_id"]).all()


def test_precision_at_k_leaves_out_the_querys_own_artist():
    # two artists, each with two identical songs of one genre; the genres sit far apart otherwise
    X = np.array([[0, 0], [0, 0], [10, 0], [10, 0], [0.5, 0], [10.5, 0]], float)
    y = np.array(["a", "a", "b", "b", "b", "a"])
    artist = np.array(["p", "p", "q", "q", "r", "s"])
    plain = neighbours.precision_at_k(X, "none", y, k=1)
    filt = neighbours.precision_at_k(X, "none", y, k=1, groups=artist)
    assert plain["p_at_k"] == pytest.approx(4 / 6)  # songs 0-3 find their twin; 4 and 5 the wrong genre
    # without the twins, songs 0 and 1 find song 4 (b), 2 and 3 find song 5 (a): all wrong; 4 finds 0 or 1 (a)
    assert filt["p_at_k"] == pytest.approx(0.0)
    assert filt["p_at_k_chance"] < plain["p_at_k_chance"] + 1  # defined, a share
    assert 0 <= filt["p_at_k_chance"] <= 1


def test_table_carries_precision_at_10_per_label():
    tracks, base, models, songs, _ = collection(noise=0.4)
    _, table = scored(tracks, base, models, songs)
    assert {"p_at_10_mean", "p_at_10_chance_mean"} <= set(table.columns)
    row = table[table["rep"] == "audio_raw"].iloc[0]
    assert row["p_at_10_mean"] > 0.9 > row["p_at_10_chance_mean"]


@pytest.mark.parametrize("label, says", [("artist", "for the artist label the tables count them too"),
                                         ("genre", "the tables leave the query's own artist out")])
def test_the_take_away_says_when_the_tables_count_the_query_s_own_artist(label, says):
    rec = {"rep": "audio_pca", "method": "kmeans", "k": 4, "seed": 0, "song_set": "songs with audio", "reason": "r",
           "label_column": label, "ami_mean": 0.5, "ami_std": 0.0, "n_seeds": 5, "ami_file": 0.5,
           "p_at_k_file": 0.54, "p_at_k_row": 0.54}
    text = export.take_away_text(rec)
    assert "re-scored: a song's listed neighbours share its" in text and says in text


def test_assigned_csv_goes_when_the_clusters_it_names_change(tmp_path, caplog):
    tracks, base, models, songs, _ = collection()
    _, table = scored(tracks, base, models, songs)
    reps = {**base, **models[0]}
    export.write(reps, tracks, table, {SET: songs}, tmp_path, seed=0)
    assigned = tmp_path / "assigned.csv"
    assigned.write_text("track_id,cluster\nnew,1\n")
    export.write(reps, tracks, table, {SET: songs}, tmp_path, seed=0)  # the same clusters: still true
    assert assigned.is_file()
    export.write(reps, tracks, table, {SET: songs}, tmp_path, seed=1)  # another clustering: its numbers mean other songs
    assert not assigned.is_file() and "songspace assign again" in caplog.text


def test_the_tables_mark_a_trained_models_latents_the_autoencoders_too():
    """``learned`` travels from the representation into the summary the pick reads: the autoencoder is on
    the baselines' side of the verdicts, but its latents need its encoder like any model's."""
    tracks, base, models, songs, _ = collection()
    ae = Representation(models[0]["mlp_vae"].X, models[0]["mlp_vae"].track_ids, "baseline", "hybrid", "none", kind="ae")
    models = {s: {**reps, "ae": ae} for s, reps in models.items()}
    _, table = scored(tracks, base, models, songs)
    learned = table.groupby("rep")["learned"].first()
    family = table.groupby("rep")["family"].first()
    assert learned.to_dict() == {"ae": True, "audio_raw": False, "mlp_vae": True}
    assert family["ae"] == family["audio_raw"] == "baseline"


def test_small_data_caveat_counts_the_labelled_songs_and_says_when_it_lists_only_some_classes():
    from songspace.evaluation import verdicts

    artists = [f"artist {i:02d}" for i in range(15)] + ["artist 00"] * 5
    tracks = pd.DataFrame({"has_audio": [True] * 24, "artist": artists + [None] * 4,
                           "genre": ["a", "b"] * 10 + [None] * 4})
    text = verdicts.small_data_caveat(24, 24, tracks, ["artist", "genre"])
    assert "artist 00 6" in text and "and 3 more class(es) of 3 song(s)" in text  # 12 of 15 named, the rest counted
    assert "genre: a 10, b 10)" in text
    assert "rest on 20 songs" in text  # the 4 songs without labels score nothing
