"""The 2-D map picks its method by size: exact up to EXACT_MAX points, fitted on a subsample above."""
import numpy as np
import pytest
from songspace.report import projection


@pytest.fixture
def small_limits(monkeypatch):
    monkeypatch.setattr(projection, "EXACT_MAX", 50)
    monkeypatch.setattr(projection, "FIT_N", 40)


def _two_blobs(n, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    return rng.normal(size=(n, 5)) + 8 * y[:, None], y


@pytest.mark.parametrize("n, asked, used", [(4, "umap", "pca"), (50, "tsne", "tsne"), (51, "tsne", "tsne-subsample"),
                                            (51, "umap", "umap-subsample"), (500, "pca", "pca")])
def test_choose_method_switches_at_the_limits(small_limits, n, asked, used):
    got, reason = projection.choose_method(asked, n)
    assert got == used and bool(reason) == (used != asked)


def test_large_tsne_is_fitted_on_a_subsample_and_places_the_rest(small_limits):
    X, y = _two_blobs(120)
    coords, info = projection.embed_2d(X, "tsne", seed=0)
    assert info["method_used"] == "tsne-subsample" and info["params"]["fit_n"] == 40
    assert "n=120 > 50" in info["reason"]
    assert coords.shape == (120, 2) and np.isfinite(coords).all()
    rest = np.setdiff1d(np.arange(120), projection.fit_subsample(120, 0, 40))
    centre = [coords[y == c].mean(0) for c in (0, 1)]
    nearest = np.argmin([np.linalg.norm(coords[rest] - m, axis=1) for m in centre], axis=0)
    assert (nearest == y[rest]).all()  # placed points land in their own blob


def test_large_umap_uses_transform_for_the_rest(small_limits):
    X, y = _two_blobs(90)
    coords, info = projection.embed_2d(X, "umap", seed=0)
    assert info["method_used"] == "umap-subsample" and info["params"]["n_neighbors"] == 15
    assert coords.shape == (90, 2) and np.isfinite(coords).all()
    centre = [coords[y == c].mean(0) for c in (0, 1)]
    assert (np.argmin([np.linalg.norm(coords - m, axis=1) for m in centre], axis=0) == y).all()


def test_place_by_neighbours_puts_a_fitted_point_on_its_position():
    X_fit = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    coords = np.array([[1.0, 1.0], [5.0, 5.0], [-3.0, 2.0]])
    placed = projection.place_by_neighbours(X_fit, coords, np.array([[10.0, 0.0], [5.0, 0.0]]), k=2)
    assert placed[0] == pytest.approx([5.0, 5.0], abs=1e-6)
    assert placed[1] == pytest.approx([3.0, 3.0])  # equidistant from the first two: their mean


def test_subsample_policy_is_part_of_the_cache_key(small_limits, tmp_path, monkeypatch):
    X, _ = _two_blobs(60)
    _, exact = projection.embed_2d(X[:50], "tsne", seed=0)
    _, sub = projection.embed_2d(X, "tsne", seed=0, cache_path=tmp_path)
    monkeypatch.setattr(projection, "FIT_N", 45)
    _, sub45 = projection.embed_2d(X, "tsne", seed=0, cache_path=tmp_path)
    assert not sub45["cache_hit"] and sub45["key"] != sub["key"] and exact["method_used"] == "tsne"


def test_umap_kernels_are_cached_on_disk_so_a_new_process_does_not_compile_them():
    from numba.core.caching import NullCache

    umap = projection.umap_module()
    kernels = [umap.umap_.smooth_knn_dist, umap.umap_.compute_membership_strengths,
               umap.layouts._nb_optimize_layout_euclidean_single_epoch]
    assert not any(isinstance(k._cache, NullCache) for k in kernels)
