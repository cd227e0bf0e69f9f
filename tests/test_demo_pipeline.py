"""End to end on the synthetic demo: features -> MLP VAE -> K-Means recovers the planted genre."""
import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from songspace.data import loading, synthetic, validation
from songspace.features import audio, extract
from songspace.features.lyrics import extract_lyrics
from songspace.models import registry
from songspace.training import inputs, loop, scaling

pytestmark = pytest.mark.xdist_group("demo")


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    manifest = synthetic.make_synthetic(base / "raw", n_per_cell=6, duration_s=6.0, sr=16000, seed=0)
    tracks, report = validation.validate(loading.load_dataset(manifest), min_duration_s=1.0)
    assert report.empty, report
    params = audio.AudioParams(sr=16000, window_s=1.0, hop_s=1.0, n_mels=16, patch_frames=16)
    extract.extract_audio(tracks, params, base / "processed", n_jobs=1, progress=False)
    extract_lyrics(tracks, "tfidf", base / "processed")
    return tracks, inputs.load_blocks(tracks, base / "processed", "tfidf")


def test_mlp_vae_latents_recover_planted_genre(demo):
    """Genre is planted in the audio, so the MLP VAE here sees the audio descriptors.

    On the hybrid audio + lyrics vector the planted languages compete with the genres, and K-Means
    with k = 3 finds genre with ARI between 0.4 and 1.0 depending on the seed: that is a property of
    the data (two crossed structures), reported in the notebooks, not something to assert.
    """
    tracks, blocks = demo
    assert blocks.mask_audio.all() and blocks.mask_lyrics.all()
    torch.set_num_threads(1)  # the same float path on every machine
    X, _ = scaling.standardise_blocks({"audio": blocks.audio}, np.ones(len(tracks), bool))
    aris, aris_language = [], []
    for seed in range(3):  # like every result here: over seeds, not one lucky run
        loop.seed_everything(seed)  # the weights too: else they depend on what ran before in this process
        res = loop.fit(registry.build_model("mlp_vae", input_dim=X.shape[1], latent_dim=4, hidden=[64, 32]), X,
                        loop.TrainConfig(epochs=200, batch_size=16, lr=2e-3, warmup_epochs=20, patience=40,
                                          seed=seed, progress=False), blocks.track_ids)
        labels = KMeans(tracks["genre"].nunique(), n_init=10, random_state=0).fit_predict(res.latents)
        aris.append(adjusted_rand_score(tracks["genre"], labels))
        aris_language.append(adjusted_rand_score(tracks["language"], labels))
    assert np.mean(aris) >= 0.9, f"genre ARI over seeds {np.round(aris, 3)}"
    # the planted language lives in the lyrics, not in the audio: the audio latents must not find it
    assert max(aris_language) < 0.2, f"language ARI over seeds {np.round(aris_language, 3)}"


def test_multimodal_vae_embeds_songs_missing_a_modality(demo):
    tracks, blocks = demo
    mask_audio = blocks.mask_audio.copy()
    mask_audio[::3] = False  # a third of the songs lose their audio
    blocks.audio[~mask_audio] = 0
    blocks.mask_audio = mask_audio
    views = inputs.model_inputs(blocks)
    X = views["multimodal"]
    model = registry.build_model("multimodal_vae", audio_dim=X["audio"].shape[1], lyrics_dim=X["lyrics"].shape[1],
                              latent_dim=4, hidden=[64, 32])
    res = loop.fit(model, X, loop.TrainConfig.tiny(epochs=20, seed=0), blocks.track_ids)
    assert np.isfinite(res.latents).all() and res.latents.shape == (len(tracks), 4)
    lyr_only = ~mask_audio
    assert np.abs(res.latents[lyr_only]).sum(1).min() > 0  # a real latent, not the all-zero prior mean
