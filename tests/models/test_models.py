"""Shapes, loss parts and rebuild-from-config for every model kind (no training here)."""
import numpy as np
import pytest
import torch
from songspace.models.base import kl_per_dim
from songspace.models.registry import KINDS, build_model


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


VECTOR_CASES = [
    ("mlp_vae", dict(input_dim=12, latent_dim=3, hidden=[16, 8])),
    ("ae", dict(input_dim=12, latent_dim=3, hidden=[16])),
    ("cvae", dict(input_dim=12, latent_dim=3, hidden=[16], n_classes=4, condition_column="language")),
    ("vade", dict(input_dim=12, latent_dim=3, hidden=[16], n_clusters=4)),
]
CONV_CASES = [
    ("conv_vae", dict(input_shape=(1, 64, 128), latent_dim=5, n_layers=3, first_channels=16, hidden_channels=16)),
    ("conv_vae", dict(input_shape=(1, 16, 32), latent_dim=5, n_layers=4, first_channels=8, hidden_channels=8,
                      kernel_size=5)),
    ("conv_vae", dict(input_shape=(1, 17, 31), latent_dim=5, channels=[4, 6], hidden_channels=3)),
    ("ae", dict(input_shape=(1, 16, 32), latent_dim=5, n_layers=2, first_channels=4, hidden_channels=4)),
]


def _batch(kind, cfg, n=5):
    if "input_shape" in cfg:
        return torch.randn(n, *cfg["input_shape"]), None
    x = torch.randn(n, cfg["input_dim"])
    c = torch.nn.functional.one_hot(torch.arange(n) % cfg["n_classes"], cfg["n_classes"]).float() if kind == "cvae" else None
    return x, c


@pytest.mark.parametrize("kind,cfg", VECTOR_CASES + CONV_CASES)
def test_shapes_and_loss_parts(kind, cfg):
    model = build_model(kind, **cfg)
    x, c = _batch(kind, cfg)
    out = model(x, c)
    assert out["recon"].shape == x.shape
    assert out["mu"].shape == (5, cfg["latent_dim"]) == out["z"].shape
    parts = model.loss(x, out, beta=1.0)
    assert set(parts) == {"loss", "recon", "kl"}
    assert all(torch.isfinite(v) for v in parts.values())
    if kind == "ae":
        assert out["logvar"] is None and parts["kl"].item() == 0.0
        assert torch.equal(out["z"], out["mu"])  # deterministic
    else:
        assert out["logvar"].shape == out["mu"].shape
        assert parts["kl"].item() > 0
    assert torch.allclose(parts["loss"], parts["recon"] + parts["kl"])
    assert model.embed(x, c).shape == (5, cfg["latent_dim"])
    with pytest.raises(ValueError, match="one input"):  # one signature for all models: which= is multimodal's
        model.embed(x, c, which="audio")
    # recon is summed over features and averaged over the batch
    expected = (out["recon"] - x).pow(2).flatten(1).sum(1).mean()
    assert torch.allclose(parts["recon"], expected)


@pytest.mark.parametrize("kind,cfg", VECTOR_CASES + CONV_CASES[1:2])
def test_rebuild_from_config_gives_same_outputs(kind, cfg):
    model = build_model(kind, **cfg).eval()
    clone = build_model(**model.config).eval()
    clone.load_state_dict(model.state_dict())
    x, c = _batch(kind, cfg)
    assert torch.equal(model.embed(x, c), clone.embed(x, c))
    assert clone.config == model.config


def test_beta_and_free_bits_enter_the_loss():
    model = build_model("mlp_vae", input_dim=6, latent_dim=4, hidden=[8])
    x = torch.randn(7, 6)
    out = model(x)
    p1, p0 = model.loss(x, out, beta=1.0), model.loss(x, out, beta=0.0)
    assert torch.allclose(p0["loss"], p0["recon"])
    assert torch.allclose(p1["kl"], p0["kl"])  # the reported KL does not depend on beta
    fb = model.loss(x, out, beta=1.0, free_bits=5.0)
    # every dimension is below a 5-nat floor at init, so the KL term is exactly 4 * 5
    assert torch.allclose(fb["loss"], fb["recon"] + 4 * 5.0)
    assert torch.allclose(fb["kl"], kl_per_dim(out["mu"], out["logvar"]).sum())


def test_kl_matches_closed_form_for_known_posterior():
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, np.log(4.0)]])
    # 0.5*(mu^2 + var - 1 - log var): dim0 = 0.5, dim1 = 0.5*(4 - 1 - log 4)
    assert torch.allclose(kl_per_dim(mu, logvar), torch.tensor([0.5, 0.5 * (3 - np.log(4.0))]))


def test_cvae_records_condition_column_and_requires_c():
    model = build_model("cvae", input_dim=5, latent_dim=2, hidden=[8], n_classes=3, condition_column="genre",
                        classes=["a", "b", "c"])
    assert model.config["condition_column"] == "genre"
    assert build_model(**model.config).config["classes"] == ["a", "b", "c"]
    with pytest.raises(ValueError, match="genre"):
        model(torch.randn(2, 5))
    with pytest.raises(ValueError, match="condition_column"):
        build_model("cvae", input_dim=5, n_classes=3)
    # the condition changes the decoding
    z = torch.zeros(1, 2)
    eye = torch.eye(3)
    assert not torch.allclose(model.decode(z, eye[:1]), model.decode(z, eye[1:2]))


def test_unknown_kind_is_named():
    with pytest.raises(ValueError, match="transformer"):
        build_model("transformer")
    assert set(KINDS) == {"mlp_vae", "conv_vae", "cvae", "ae", "multimodal_vae", "vade"}


def _mm_batch(n=6):
    return {"audio": torch.randn(n, 5), "lyrics": torch.randn(n, 7),
            "mask_audio": torch.tensor([1, 1, 0, 1, 1, 0], dtype=torch.bool),
            "mask_lyrics": torch.tensor([1, 0, 1, 1, 1, 0], dtype=torch.bool)}


def test_multimodal_shapes_masked_recon_and_partial_embeddings():
    model = build_model("multimodal_vae", audio_dim=5, lyrics_dim=7, latent_dim=3, hidden=[16]).eval()
    x = _mm_batch()
    out = model(x)
    assert out["recon"]["audio"].shape == (6, 5) and out["recon"]["lyrics"].shape == (6, 7)
    parts = model.loss(x, out)
    assert torch.isfinite(parts["loss"]) and parts["kl"] > 0
    # reconstruction counts present modalities only: garbage in a missing block changes nothing
    x2 = dict(x, audio=x["audio"].clone())
    x2["audio"][2] = 1e3
    torch.manual_seed(1)
    a = model.loss(x, model(x))["recon"]
    torch.manual_seed(1)
    b = model.loss(x2, model(x2))["recon"]
    assert torch.allclose(a, b)

    joint = model.embed(x, which="joint")
    audio = model.embed(x, which="audio")
    lyrics = model.embed(x, which="lyrics")
    for e in (joint, audio, lyrics):
        assert e.shape == (6, 3) and torch.isfinite(e).all()
    both = (x["mask_audio"] & x["mask_lyrics"]).numpy()
    assert not torch.allclose(joint[both], audio[both]) and not torch.allclose(joint[both], lyrics[both])
    # a track with audio only is embedded by its audio expert alone, so joint == audio-only for it
    assert torch.allclose(joint[1], audio[1]) and torch.allclose(joint[2], lyrics[2])
    # no modality at all: the prior mean
    assert torch.equal(joint[5], torch.zeros(3))
    # audio-only input without the lyrics tensor at all
    only = model.embed({"audio": x["audio"]}, which="joint")
    assert torch.allclose(only[0], model.embed(x, which="audio")[0])
    with pytest.raises(ValueError, match="which"):
        model.embed(x, which="video")


def test_modality_dropout_only_in_training():
    model = build_model("multimodal_vae", audio_dim=5, lyrics_dim=7, latent_dim=3, hidden=[16],
                        modality_dropout=1.0)
    x = _mm_batch()
    model.eval()
    mu_eval, _ = model.encode(x)
    model.train()
    mu_train, _ = model.encode(x)
    both = (x["mask_audio"] & x["mask_lyrics"]).numpy()
    # with dropout 1, every row with both modalities is encoded from one of them in training
    a = model.embed(x, which="audio")
    l = model.embed(x, which="lyrics")
    for i in np.flatnonzero(both):
        assert torch.allclose(mu_train[i], a[i]) or torch.allclose(mu_train[i], l[i])
        assert not torch.allclose(mu_train[i], mu_eval[i])
