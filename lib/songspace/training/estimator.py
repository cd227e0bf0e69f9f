"""A scikit-learn estimator around songspace's VAE: fit on a feature matrix, transform to latents,
cluster the latents.

    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from songspace.training.estimator import SongspaceVAE
    >>> pipe = make_pipeline(StandardScaler(), SongspaceVAE(latent_dim=4, epochs=50, n_clusters=3))
    >>> labels = pipe.fit_predict(X)          # doctest: +SKIP
    >>> Z = pipe[:-1].transform(X); Z = pipe[-1].transform(Z)   # doctest: +SKIP

Each row of ``X`` is one song: the validation split of :func:`songspace.training.loop.fit` (early stopping)
holds out whole rows. The model is built by :func:`songspace.models.registry.build_model` and trained by
:func:`songspace.training.loop.fit` with a :class:`songspace.training.loop.TrainConfig`, as in the notebooks.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
)
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import check_is_fitted, validate_data

__all__ = ["SongspaceVAE"]

VECTOR_KINDS = ("mlp_vae", "ae")


def _has_n_clusters(est) -> bool:
    return est.n_clusters is not None


class SongspaceVAE(ClassNamePrefixFeaturesOutMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Variational autoencoder on vectors (one row per song), scikit-learn style.

    Parameters
    ----------
    kind : {"mlp_vae", "ae"}
        ``songspace.models.registry.build_model`` kind: MLP VAE, or the deterministic autoencoder.
    latent_dim : int
        Size of the latent space (``transform`` returns that many columns).
    hidden : tuple of int
        Encoder hidden widths (the decoder mirrors them).
    beta : float
        Weight of the KL term (beta-VAE).
    epochs, batch_size, lr : training length, batch size, Adam learning rate.
    val_fraction : float
        Share of rows (songs) held out for early stopping; 0 trains on all rows.
    random_state : int
        Seeds the split, torch, the batch order and K-Means: same data, same result.
    n_clusters : int or None
        K-Means clusters on the latents; ``predict``/``fit_predict`` exist only when it is set.
    device : str
        torch device ("cpu", "cuda", "auto").
    standardize : bool
        Standardise features inside ``fit`` with a ``StandardScaler`` fitted on the training rows
        (the rows not held out for validation); ``transform`` applies the same scaling.
    patience : int
        Epochs without a better validation ELBO before stopping.

    Attributes
    ----------
    model_ : songspace.models.base.BaseVAE (best epoch's weights)
    history_ : pandas.DataFrame, one row per epoch
    scaler_ : StandardScaler or None
    labels_ : ndarray of int, shape (n_samples,) (when ``n_clusters`` is set)
    kmeans_ : KMeans or None
    n_features_in_, feature_names_in_ : as in scikit-learn
    """

    def __init__(self, kind="mlp_vae", latent_dim=8, hidden=(128, 64), beta=1.0, epochs=100, batch_size=64,
                 lr=1e-3, val_fraction=0.2, random_state=0, n_clusters=None, device="cpu", standardize=True,
                 patience=10):
        self.kind = kind
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.beta = beta
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.val_fraction = val_fraction
        self.random_state = random_state
        self.n_clusters = n_clusters
        self.device = device
        self.standardize = standardize
        self.patience = patience

    # ------------------------------------------------------------------ fitting

    def _check_params(self):
        if self.kind not in VECTOR_KINDS:
            raise ValueError(f"kind must be one of {VECTOR_KINDS} (vectors), got {self.kind!r}")
        for name in ("latent_dim", "epochs", "batch_size"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        if not 0 <= float(self.val_fraction) < 1:
            raise ValueError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if self.n_clusters is not None and (not isinstance(self.n_clusters, (int, np.integer)) or self.n_clusters < 1):
            raise ValueError(f"n_clusters must be None or a positive int, got {self.n_clusters!r}")

    def _seed(self) -> int:
        rs = self.random_state
        if rs is None:
            return int(np.random.randint(0, 2**31 - 1))
        if isinstance(rs, np.random.RandomState):
            return int(rs.randint(0, 2**31 - 1))
        return int(rs)

    def fit(self, X, y=None):
        """Train the VAE on the rows of ``X`` (y is ignored); cluster the latents if ``n_clusters``."""
        from sklearn.cluster import KMeans
        from sklearn.preprocessing import StandardScaler

        from songspace.models import registry
        from songspace.training import loop
        from songspace.training.split import split_by_song

        self._check_params()
        X = validate_data(self, X, dtype=[np.float64, np.float32], ensure_min_samples=2)
        seed = self._seed()
        ids = np.arange(X.shape[0]).astype(str)  # one row = one song
        cfg = loop.TrainConfig(epochs=int(self.epochs), batch_size=int(self.batch_size), lr=float(self.lr),
                                beta=float(self.beta), val_fraction=float(self.val_fraction), seed=seed,
                                device=self.device, patience=int(self.patience), progress=False)
        if self.standardize:
            tr, _ = split_by_song(ids, cfg.val_fraction, cfg.seed)  # the split loop.fit makes
            self.scaler_ = StandardScaler().fit(X[tr])
            Xs = self.scaler_.transform(X)
        else:
            self.scaler_ = None
            Xs = X
        loop.seed_everything(seed)  # the initial weights too, not only what loop.fit seeds
        model = registry.build_model(self.kind, input_dim=X.shape[1], latent_dim=int(self.latent_dim),
                                   hidden=[int(h) for h in self.hidden])
        res = loop.fit(model, np.ascontiguousarray(Xs, dtype=np.float32), cfg, ids)
        self.model_ = res.model.cpu().eval()
        self.history_ = res.history
        self.best_epoch_ = res.best_epoch
        self._n_features_out = int(self.latent_dim)
        if self.n_clusters is not None:
            Z = self._encode(Xs)
            self.kmeans_ = KMeans(n_clusters=int(self.n_clusters), n_init=10, random_state=seed).fit(Z)
            self.labels_ = self.kmeans_.labels_
        else:
            self.kmeans_ = None
        return self

    # ------------------------------------------------------------------ using it

    def _encode(self, Xs) -> np.ndarray:
        from songspace.training import inference

        return inference.encode_all(self.model_, np.ascontiguousarray(Xs, dtype=np.float32), device="cpu")

    def transform(self, X):
        """Posterior means, shape (n_samples, latent_dim), float32."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        Xs = self.scaler_.transform(X) if self.scaler_ is not None else X
        return self._encode(Xs)

    def fit_transform(self, X, y=None, **fit_params):
        """``fit(X).transform(X)``."""
        return self.fit(X, y).transform(X)

    @available_if(_has_n_clusters)
    def predict(self, X):
        """K-Means cluster of each row's latent mean (only when ``n_clusters`` is set)."""
        check_is_fitted(self, "kmeans_")
        return self.kmeans_.predict(self.transform(X))

    @available_if(_has_n_clusters)
    def fit_predict(self, X, y=None, **kwargs):
        """Fit, then the K-Means labels of the training rows (only when ``n_clusters`` is set)."""
        return self.fit(X, y).labels_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
