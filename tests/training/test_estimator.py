"""SongspaceVAE behaves as a scikit-learn estimator and clusters well-separated blobs."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from songspace.training.estimator import SongspaceVAE

TINY = dict(latent_dim=2, hidden=(8,), epochs=3, batch_size=16)


# Every scikit-learn check passes with these tiny settings (fits on 1 sample are refused with the
# "1 sample(s)" message the check accepts), so no check is listed in expected_failed_checks.
@parametrize_with_checks([SongspaceVAE(**TINY), SongspaceVAE(**TINY, n_clusters=3)])
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, centers=3, n_features=12, cluster_std=1.0, center_box=(-8, 8), random_state=0)
    return X * np.linspace(1, 50, 12), y  # features on very different scales


def test_pipeline_fit_predict_recovers_blobs(blobs):
    X, y = blobs
    pipe = Pipeline([("scale", StandardScaler()),
                     ("vae", SongspaceVAE(latent_dim=2, hidden=(32,), epochs=40, batch_size=32, lr=3e-3,
                                          n_clusters=3, random_state=0, standardize=False))])
    labels = pipe.fit_predict(X)
    assert adjusted_rand_score(y, labels) >= 0.9
    np.testing.assert_array_equal(pipe.predict(X), labels)
    Z = pipe.transform(X)
    assert Z.shape == (150, 2) and Z.dtype == np.float32
    assert pipe.get_params()["vae__latent_dim"] == 2
    pipe.set_params(vae__n_clusters=2)
    assert pipe.named_steps["vae"].n_clusters == 2


def test_standardizes_on_training_rows_and_is_reproducible(blobs):
    X, _ = blobs
    est = SongspaceVAE(**TINY, val_fraction=0.2, random_state=3).fit(X)
    from songspace.training.split import split_by_song

    train, val = split_by_song(np.arange(len(X)).astype(str), 0.2, 3)
    assert val.sum() == 30
    np.testing.assert_allclose(est.scaler_.mean_, X[train].mean(0))
    assert not np.allclose(est.scaler_.mean_, X.mean(0))
    Z1 = est.transform(X)
    Z2 = clone(est).fit(X).transform(X)
    np.testing.assert_array_equal(Z1, Z2)  # same random_state, same latents
    assert SongspaceVAE(**TINY, standardize=False).fit(X).scaler_ is None
    assert len(est.history_) <= 3 and est.get_feature_names_out().tolist() == ["songspacevae0", "songspacevae1"]


def test_predict_only_with_n_clusters_and_bad_params_refused(blobs):
    X, _ = blobs
    est = SongspaceVAE(**TINY).fit(X)
    assert not hasattr(est, "predict") and not hasattr(est, "fit_predict")
    assert hasattr(SongspaceVAE(n_clusters=3), "predict")
    with pytest.raises(ValueError, match="kind"):
        SongspaceVAE(kind="conv_vae").fit(X)
    with pytest.raises(ValueError, match="latent_dim"):
        SongspaceVAE(latent_dim=0).fit(X)
