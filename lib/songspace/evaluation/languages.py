"""01's check of a lyrics embedding: do songs of one language sit together?"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def language_similarity(emb: np.ndarray, mask: np.ndarray, languages: Sequence) -> pd.DataFrame:
    """Mean cosine similarity within and between language groups.

    Parameters
    ----------
    emb : np.ndarray, shape (n, d)
    mask : np.ndarray, shape (n,), bool
        Rows to use (tracks with lyrics).
    languages : sequence, length n
        Language label per track; rows without one (None/NaN) are left out.

    Returns
    -------
    DataFrame, languages x languages
        Entry (a, b) = mean cosine over pairs of distinct tracks with languages a and b
        (the diagonal is the within-language mean, self-pairs excluded; NaN if no pair).
        ``attrs["within"]`` / ``attrs["between"]``: means over all same-/different-language
        pairs, ``attrs["gap"]`` their difference and ``attrs["gap_std"]`` the gap in units of
        the std of all pair cosines. Cosine scales differ between models (E5 runs high), so
        compare ``gap_std`` across models, not raw levels.
    """
    languages = pd.Series(list(languages), dtype=object)
    mask = np.asarray(mask, bool) & languages.notna().to_numpy()  # a song without a language is in no group
    lang = np.asarray(languages.astype(str))[mask]
    X = np.asarray(emb, dtype=np.float64)[mask]
    X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    S = X @ X.T
    off = ~np.eye(len(X), dtype=bool)
    groups = sorted(set(lang))
    M = pd.DataFrame(np.nan, index=pd.Index(groups, name="language"), columns=groups)
    for a in groups:
        for b in groups:
            sel = (lang[:, None] == a) & (lang[None, :] == b) & off
            if sel.any():
                M.loc[a, b] = S[sel].mean()
    same = (lang[:, None] == lang[None, :]) & off
    diff = lang[:, None] != lang[None, :]
    M.attrs["within"] = float(S[same].mean()) if same.any() else float("nan")
    M.attrs["between"] = float(S[diff].mean()) if diff.any() else float("nan")
    M.attrs["gap"] = M.attrs["within"] - M.attrs["between"]
    sd = float(S[off].std()) if off.any() else float("nan")
    M.attrs["gap_std"] = M.attrs["gap"] / sd if sd > 0 else float("nan")
    return M
