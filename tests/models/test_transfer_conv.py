"""The ConvVAE whose encoder is musicnn's frozen network plus a trained head: shapes, rebuild, what trains."""
import numpy as np
import pytest
import torch
from songspace.models.conv import ConvVAE, TransferConvVAE
from songspace.models.registry import build_model

CFG = dict(encoder="musicnn-msd", input_dim=20, input_shape=(1, 16, 32), latent_dim=3, hidden=[8], n_layers=2,
           first_channels=4, hidden_channels=4)


def _batch(n=5, cfg=CFG):
    return {"features": torch.randn(n, cfg["input_dim"]), "logmel": torch.randn(n, *cfg["input_shape"])}


@pytest.mark.parametrize("cfg", [CFG, {**CFG, "hidden": [], "input_shape": (1, 17, 31), "kernel_size": 5}])
def test_features_in_patches_out(cfg):
    torch.manual_seed(0)
    model = build_model("conv_vae", **cfg)
    assert isinstance(model, TransferConvVAE)
    x = _batch(cfg=cfg)
    out = model(x)
    assert out["mu"].shape == out["logvar"].shape == (5, 3)
    assert out["recon"].shape == (5, *cfg["input_shape"])  # the patch, not the features
    parts = model.loss(x, out)
    want = (out["recon"] - x["logmel"]).pow(2).flatten(1).sum(1).mean()
    assert torch.allclose(parts["recon"], want)
    assert model.embed(x).shape == (5, 3) and model.target(x) is x["logmel"]
    again = build_model(**model.config)
    again.load_state_dict(model.state_dict())
    again.eval(), model.eval()
    assert torch.equal(again.embed(x), model.embed(x))


def test_the_seed_encoder_is_still_the_default():
    cfg = {k: v for k, v in CFG.items() if k not in ("encoder", "input_dim", "hidden")}
    assert isinstance(build_model("conv_vae", **cfg), ConvVAE)
    assert isinstance(build_model("conv_vae", encoder="conv", **cfg), ConvVAE)


def test_only_the_head_and_the_decoder_train_and_the_input_features_stay_as_they_were():
    """musicnn's network is not part of the model: its features are inputs, so no gradient step can
    change them; the head and the decoder get gradients and move."""
    torch.manual_seed(0)
    model = build_model("conv_vae", **CFG)
    names = {n.split(".")[0] for n, _ in model.named_parameters()}
    assert names == {"head", "fc_mu", "fc_logvar", "fc_dec", "decoder"}
    x = _batch(16)
    frozen = x["features"].clone()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        model.loss(x, model(x))["loss"].backward()
        opt.step()
    assert torch.equal(x["features"], frozen)
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert moved == set(before)
