"""Stage 00: a collection in, one tracks table out.

A collection is the shipped JamendoLyrics corpus, a ``manifest.csv`` or a plain folder of audio (``collection``
scans it and ``fetch`` copies the corpus); ``loading`` turns any of them into the tracks table and the interim
files, with ``manifest`` reading a manifest row by row, ``tags`` each file's embedded metadata, ``metadata``
merging them (and naming songs), ``text`` decoding lyrics of any encoding, ``labels`` giving each label value one spelling and ``language`` reading a song's language from its lyrics when no file is tagged with one; ``validation`` reports every problem of a song as a row while the rest go on; ``plan`` says which
stages a collection allows; ``synthetic`` writes a collection with planted structure for the demo and the tests.
Sits above ``features`` only because validation opens audio through its decoder.
"""

import lazy_loader

# Submodules load on first use, so importing one stage does not import torch or plotly for another.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=["collection", "fetch", "labels", "language", "loading", "manifest", "metadata", "plan", "synthetic", "tags", "text",
                "validation"],
    submod_attrs={
        "collection": [
            "AUDIO_SUFFIXES",
            "LYRICS_SUFFIXES",
            "NOT_LABELS",
            "is_hidden",
            "printable",
            "is_utf8",
            "sidecars",
            "strip_lrc",
            "scan_folder",
            "listing",
            "detect_label_columns",
            "write_if_changed",
            "main",
        ],
        "fetch": ["FETCH_HELP", "fetch_jamendo"],
        "language": ["MIN_LETTERS", "MIN_TRIGRAMS", "MIN_PROBABILITY", "MIN_SONGS_PER_LANGUAGE", "NO_LANGUAGE",
                     "MACROLANGUAGE", "detect", "code_of", "one_spelling", "named", "fill_from_lyrics", "describe"],
        "manifest": ["ManifestError", "inside", "problem", "sniff_delimiter", "drop_empty_ids", "resolve_path"],
        "metadata": ["SOURCE_FIELDS", "DASH", "MAX_LYRICS_BYTES", "read_lyrics_file", "display_names", "apply_tags", "provenance", "label_summary"],
        "tags": ["TAG_FIELDS", "HEADER_FIELDS", "NOT_LABEL_FIELDS", "YEAR", "fields_of", "read_tags", "read_all"],
        "text": ["FALLBACK", "TextDecodeError", "decode_text"],
        "labels": ["PLACEHOLDERS", "tidy", "tidy_values", "most_common_spelling"],
        "loading": [
            "JAMENDO_CSV",
            "MANIFEST_CSV",
            "BASE_COLUMNS",
            "REPORT_COLUMNS",
            "DatasetError",
            "read_manifest",
            "inside",
            "load_dataset",
            "load_file",
            "write_interim",
            "read_tracks",
            "read_report",
        ],
        "plan": ["MIN_SONGS", "parse_columns", "label_columns", "Plan"],
        "synthetic": ["GENRES", "WORDS", "make_synthetic", "SHAPES", "make_shape", "add_arguments", "run"],
        "validation": [
            "NOT_IN_COPY",
            "SILENCE_DB",
            "SILENCE_PEAK",
            "LOW_SAMPLE_RATE",
            "validate",
            "class_counts",
            "report_summary",
        ],
    },
)
