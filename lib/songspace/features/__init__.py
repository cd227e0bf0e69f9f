"""Stage 01: what a song is made of, as numbers: audio descriptors, log-mel patches, pretrained musicnn
embeddings and lyrics embeddings.

``audio`` decodes a file once and cuts it into windows; ``descriptors`` computes frame-level features from one
STFT and pools them; ``musicnn`` (with the network and its weights in ``musicnn_net``, read by ``tfbundle``) is
the pretrained embedding; ``per_track`` is the work of one track and ``extract`` runs it over a collection and
writes the files that ``saved`` reads back. ``lyrics`` and ``lyrics_models`` do the same for lyrics.
"""

import lazy_loader

# Submodules load on first use, so importing one stage does not import torch or plotly for another.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submodules=[
        "audio",
        "descriptors",
        "extract",
        "lyrics",
        "lyrics_models",
        "musicnn",
        "musicnn_net",
        "per_track",
        "saved",
        "tfbundle",
    ],
    submod_attrs={
        "audio": [
            "FEATURE_VERSION",
            "AudioError",
            "AudioParams",
            "NEEDS_FFMPEG",
            "probe_ffmpeg_format",
            "decode",
            "window_starts",
            "check_usable",
        ],
        "descriptors": [
            "DB_FLOOR",
            "TEMPO_STEP",
            "PITCHES",
            "descriptor_names",
            "frame_descriptors",
            "frame_ranges",
            "pool_windows",
            "pool_track",
            "logmel_patches",
        ],
        "extract": ["extract_audio", "FLUSH_WINDOWS"],
        "lyrics": ["chunk_text", "embed_lyrics", "backend_slug", "extract_lyrics", "load_lyrics"],
        "lyrics_models": [
            "LyricsModelError",
            "Encoder",
            "DOCUMENT_PROMPT_NAMES",
            "E5_PASSAGE_PROMPT",
            "looks_like_e5",
            "st_document_prompt",
            "get_encoder",
        ],
        "musicnn": [
            "SR",
            "N_FFT",
            "HOP",
            "N_MELS",
            "PATCH_FRAMES",
            "PATCH_HOP",
            "TAGS_MSD",
            "TAGS_MTT",
            "TAGS",
            "logmel",
            "patch_starts",
            "patches",
            "MusicnnModel",
            "load",
        ],
        "musicnn_net": [
            "MODELS",
            "BN_EPS",
            "TIMBRAL",
            "TEMPORAL",
            "MIDEND",
            "checkpoint_prefix",
            "expected_shapes",
            "read_weights",
            "TILE",
            "TILE_CHUNK",
            "tile_transforms",
            "MusicnnNet",
        ],
        "per_track": ["BACKENDS", "MUSICNN_VERSION", "MUSICNN_SR", "backend_key", "track_features"],
        "saved": [
            "FAILURE_COLUMNS",
            "FAILURES",
            "DESCRIPTOR_FILES",
            "BACKEND_FILES",
            "MUSICNN_BACKENDS",
            "backend_path",
            "backend_columns",
            "load_audio_features",
            "read_failures",
            "NOTES",
            "read_notes",
            "load_backend",
            "logmel_stats",
            "normalise",
        ],
        "tfbundle": [
            "MAGIC",
            "FOOTER_LEN",
            "BLOCK_TRAILER_LEN",
            "DTYPES",
            "CheckpointError",
            "Entry",
            "read_index",
            "load_variables",
        ],
    },
)
