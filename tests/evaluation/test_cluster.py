"""Clustering: planted structure found, DBSCAN noise, k selection, large-n fallbacks, song aggregation."""
import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from songspace.evaluation import cluster


@pytest.fixture(scope="module")
def blobs():
    return make_blobs(120, centers=4, n_features=6, cluster_std=0.5, random_state=3)


@pytest.mark.parametrize("method", ["kmeans", "agglomerative", "gmm", "spectral"])
def test_given_k_recovers_planted_blobs(blobs, method):
    X, y = blobs
    labels, info = cluster.fit_predict(X, method, k=4, seed=0, return_info=True)
    assert adjusted_rand_score(y, labels) > 0.95
    assert info["k"] == 4 and info["k_criterion"] == "given" and info["n_clusters"] == 4


@pytest.mark.parametrize("method,criterion", [("kmeans", "silhouette"), ("agglomerative", "silhouette"),
                                              ("spectral", "silhouette"), ("gmm", "bic")])
def test_choose_k_finds_planted_k(blobs, method, criterion):
    X, _ = blobs
    k, table = cluster.choose_k(X, method, range(2, 8), seed=0)
    assert k == 4
    assert table.attrs["criterion"] == criterion and (table.criterion == criterion).all()
    assert list(table.k) == list(range(2, 8))
    labels, info = cluster.fit_predict(X, method, seed=0, k_range=range(2, 8), return_info=True)
    assert info["k"] == 4 and info["k_criterion"] == criterion


def test_dbscan_marks_outliers_as_noise():
    X, y = make_blobs(150, centers=[[0, 0], [10, 0], [0, 10]], cluster_std=0.6, random_state=0)
    outliers = np.array([[30, 30], [-25, 20], [20, -30], [-30, -30], [40, 5]], float)
    X = np.vstack([X, outliers])
    labels, info = cluster.fit_predict(X, "dbscan", return_info=True)
    assert (labels[-5:] == -1).all()
    assert info["n_clusters"] == 3 and info["k"] is None and info["k_criterion"] == "dbscan"
    assert info["noise_fraction"] == pytest.approx(np.mean(labels == -1))
    assert info["noise_fraction"] < 0.1
    assert adjusted_rand_score(y[labels[:150] >= 0], labels[:150][labels[:150] >= 0]) > 0.95
    assert info["eps"] > 0 and info["min_samples"] == 4  # 2 x dim


def test_dbscan_eps_at_knee():
    # 50 tight points and 5 far ones: the knee lies between the two scales
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 0.1, (50, 2)), rng.normal(0, 1, (5, 2)) + 20 * np.eye(2)[[0, 1, 0, 1, 0]]])
    eps, kdist = cluster.dbscan_eps(X, 4)
    assert np.all(np.diff(kdist) >= 0) and len(kdist) == 55
    assert kdist[0] <= eps < 1.0


def test_pca_dim_capped_by_n(blobs):
    X = np.random.default_rng(0).normal(size=(10, 50))
    Xp, info = cluster.preprocess(X, pca_dim=30)
    assert Xp.shape == (10, 9) and info["pca_dim"] == 9
    labels, info = cluster.fit_predict(blobs[0], "kmeans", k=4, pca_dim=2, return_info=True)
    assert info["pca_dim"] == 2 and 0 < info["explained_variance"] <= 1


def test_deterministic_for_a_seed(blobs):
    X, _ = blobs
    a = cluster.fit_predict(X, "gmm", k=3, seed=5)
    b = cluster.fit_predict(X, "gmm", k=3, seed=5)
    assert (a == b).all()


def test_kmeans_restarts_fewer_above_many_clusters_and_the_predictor_matches_the_labels():
    X = np.random.default_rng(0).normal(size=(200, 4))
    few = cluster.fit_predictor(X, "kmeans", k=cluster.MANY_CLUSTERS, seed=1)
    many = cluster.fit_predictor(X, "kmeans", k=cluster.MANY_CLUSTERS + 1, seed=1)
    assert (few.n_init, many.n_init) == (cluster.KMEANS_N_INIT, cluster.KMEANS_N_INIT_MANY) == (10, 3)
    assert cluster.fit_predictor(X, "kmeans", k=60, seed=1, n_init=7).n_init == 7  # asked for: kept
    # the take-home refits through fit_predictor: the same restarts, so the same clusters as the scored row
    assert (many.labels_ == cluster.fit_predict(X, "kmeans", k=cluster.MANY_CLUSTERS + 1, seed=1,
                                                standardize=False)).all()


def test_large_n_fallbacks_recorded(blobs, monkeypatch):
    X, y = blobs
    monkeypatch.setattr(cluster, "MINIBATCH_ABOVE", 50)
    monkeypatch.setattr(cluster, "SUBSAMPLE_ABOVE", 60)
    labels, info = cluster.fit_predict(X, "kmeans", k=4, return_info=True)
    assert info["algorithm"] == "minibatch_kmeans" and adjusted_rand_score(y, labels) > 0.95
    labels, info = cluster.fit_predict(X, "agglomerative", k=4, return_info=True)
    assert info["algorithm"] == "agglomerative_subsample+nearest_centroid" and info["subsample"] == 60
    assert len(labels) == len(X) and adjusted_rand_score(y, labels) > 0.95


def test_bad_input_errors():
    with pytest.raises(ValueError, match="unknown clustering method"):
        cluster.fit_predict(np.zeros((5, 2)) + np.arange(5)[:, None], "nope", k=2)
    with pytest.raises(ValueError, match="non-finite"):
        cluster.fit_predict(np.array([[0.0, np.nan], [1, 2], [3, 4]]), "kmeans", k=2)
    with pytest.raises(ValueError, match="DBSCAN"):
        cluster.choose_k(np.zeros((5, 2)), "dbscan")


def test_aggregate_by_song_matches_loop():
    rng = np.random.default_rng(0)
    ids = rng.choice(["s3", "s1", "s2"], size=40)
    Z = rng.normal(size=(40, 5))
    Zs, songs = cluster.aggregate_by_song(Z, ids)
    assert list(songs) == ["s1", "s2", "s3"] and Zs.shape == (3, 5)
    for i, s in enumerate(songs):
        np.testing.assert_allclose(Zs[i], Z[ids == s].mean(0))
    perm = rng.permutation(40)
    Zs2, songs2 = cluster.aggregate_by_song(Z[perm], ids[perm])
    assert list(songs2) == list(songs)
    np.testing.assert_allclose(Zs2, Zs)
    with pytest.raises(ValueError, match="do not match"):
        cluster.aggregate_by_song(Z, ids[:-1])
