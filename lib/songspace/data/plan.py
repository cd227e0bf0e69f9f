"""What a collection allows: which stages run on it, which are skipped, and one sentence saying why.

Every notebook asks ``Plan.of(tracks)`` instead of assuming the shipped corpus: a folder of audio
with no lyrics and no labels, a lyrics-only manifest and a three-song collection all run to the end,
each stage either doing its work or saying in one line why it did not.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

MIN_SONGS = 6  # fewer songs than this: nothing to train a model on or to cluster meaningfully
# The CVAE trains every song, a song without a condition value with an all-zero one; below this share of
# songs with a value it is a plain VAE by another name (a few lyrics sidecars in a large library).
MIN_CONDITIONED = 0.25


def parse_columns(names) -> list[str] | None:
    """Column names from a notebook/make parameter: a list, a comma-separated string, or None/"" (None)."""
    if isinstance(names, str):
        names = [c.strip() for c in names.split(",") if c.strip()]
    return list(names) if names else None


def label_columns(tracks: pd.DataFrame, explicit=None) -> list[str]:
    """The label columns to score: ``explicit`` (list or comma-separated string) or the table's own
    ``attrs["label_columns"]``, keeping only columns with 2+ classes among the rows that have a value."""
    explicit = parse_columns(explicit)
    cols = explicit or list(tracks.attrs.get("label_columns", []))
    missing = [c for c in cols if c not in tracks.columns]
    if missing:
        raise KeyError(f"label column(s) {missing} not in the tracks table (columns: {list(tracks.columns)})")
    return [c for c in cols if tracks[c].dropna().astype(str).nunique() >= 2]


@dataclass
class Plan:
    """Counts of a validated collection and the decisions that follow from them.

    n_songs, n_audio, n_lyrics, n_both : int
        Songs in all, with usable audio, with usable lyrics, with both.
    labels : list of str
        Label columns with at least two classes (scored in 04/05).
    skipped : dict
        Stage or model name -> the sentence saying why it does not run.
    """

    n_songs: int
    n_audio: int
    n_lyrics: int
    n_both: int
    labels: list = field(default_factory=list)
    skipped: dict = field(default_factory=dict)

    @classmethod
    def of(cls, tracks: pd.DataFrame, labels=None, cvae_condition: str | None = "language") -> "Plan":
        """Decide what runs on ``tracks`` (from ``loading.read_tracks``); ``labels`` as in ``label_columns``."""
        a = tracks["has_audio"].astype(bool)
        lyr = tracks["has_lyrics"].astype(bool)
        p = cls(len(tracks), int(a.sum()), int(lyr.sum()), int((a & lyr).sum()), label_columns(tracks, labels))
        if p.n_audio == 0:
            p.skipped["audio"] = "no song has usable audio: audio features, the ConvVAE and its sweep are skipped"
            p.skipped["conv_vae"] = "no song has usable audio: the ConvVAE and its sweep are skipped"
        elif p.n_audio < MIN_SONGS:
            p.skipped["conv_vae"] = f"only {p.n_audio} songs have audio (< {MIN_SONGS}): the ConvVAE and its sweep are skipped"
        if p.n_lyrics < 2:
            p.skipped["lyrics"] = (f"{'no song has' if p.n_lyrics == 0 else 'only one song has'} usable lyrics: "
                                   "lyrics embeddings are skipped and the vector models run on audio alone")
        if p.n_audio == 0 or p.n_lyrics < 2:
            p.skipped["multimodal_vae"] = "the multimodal VAE needs both audio and lyrics in the collection"
        if p.n_usable < MIN_SONGS:  # a song whose files all failed is trained and clustered on nothing
            p.skipped["models"] = (f"{p.n_usable} songs with usable audio or lyrics: too few to train a model or to "
                                   f"cluster (need {MIN_SONGS})")
        cond = cvae_condition or None
        if cond is None:
            p.skipped["cvae"] = "no CVAE condition was named (cvae_condition=None)"
        else:
            n = tracks[cond].dropna().astype(str).nunique() if cond in tracks.columns else -1
            known = int((tracks[cond].notna() & (a | lyr)).sum()) if n >= 0 else 0
            if n < 2:
                state = {-1: "absent", 0: "empty", 1: "constant"}[n]
                p.skipped["cvae"] = f"the CVAE's condition column '{cond}' is {state}: the CVAE is skipped"
            elif known < p.n_usable * MIN_CONDITIONED:
                p.skipped["cvae"] = (f"the CVAE's condition column '{cond}' names a value for only {known} of the "
                                     f"{p.n_usable} usable songs (fewer than a quarter): the CVAE is skipped")
        if not p.labels:
            p.skipped["external_metrics"] = ("no label column with two or more classes: clusters are scored with "
                                             "internal metrics only (silhouette, Calinski-Harabasz, Davies-Bouldin)")
        return p

    @property
    def n_usable(self) -> int:
        """Songs with usable audio or lyrics: the ones models train on and clusters hold."""
        return self.n_audio + self.n_lyrics - self.n_both

    @property
    def has_audio(self) -> bool:
        return "audio" not in self.skipped

    @property
    def has_lyrics(self) -> bool:
        return "lyrics" not in self.skipped

    @property
    def can_cluster(self) -> bool:
        return "models" not in self.skipped

    def runs(self, name: str) -> bool:
        """Whether a stage (``audio``, ``lyrics``: feature extraction) or a model (``conv_vae``,
        ``multimodal_vae``, ``cvae``, any other: needs ``MIN_SONGS`` songs) runs."""
        if name in ("audio", "lyrics"):
            return name not in self.skipped
        return self.can_cluster and name not in self.skipped

    def why(self, *names: str) -> str:
        """The sentences of the skipped ``names`` (all skips when none named), as Markdown lines."""
        keys = names or tuple(self.skipped)
        return "\n".join(f"- Skipped: {self.skipped[k]}." for k in keys if k in self.skipped)

    def describe(self) -> str:
        """One paragraph: what the collection holds and what will be scored."""
        labels = ", ".join(self.labels) if self.labels else "none (internal metrics only)"
        return (f"{self.n_songs} songs: {self.n_audio} with usable audio, {self.n_lyrics} with usable lyrics, "
                f"{self.n_both} with both. Label columns scored: {labels}.")
