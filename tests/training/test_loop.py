"""The training loop and runs on disk, on small planted data made here."""
import json

import numpy as np
import pytest
import torch
from planted import planted
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score
from songspace.cache import params_hash
from songspace.models.registry import build_model
from songspace.training import store
from songspace.training.batches import RowBatches
from songspace.training.inference import active_units, encode_all
from songspace.training.loop import TrainConfig, fit, pick_device, seed_everything
from songspace.training.scaling import standardise_blocks
from songspace.training.store import load_checkpoint, load_run, run, run_key

torch.set_num_threads(1)  # tiny models: threads only add contention on a shared 2-core machine


def mlp(X, **kw):
    return build_model("mlp_vae", input_dim=X.shape[1], **{"latent_dim": 4, "hidden": [32], **kw})


# ---------------------------------------------------------------- standardise_blocks

def test_standardise_blocks_fits_on_train_rows_and_weighs_blocks_equally():
    audio, lyrics, *_ = planted(windows=1)
    audio = audio * 100 + 7  # very different scale from lyrics
    lyrics = lyrics.copy()
    lyrics[:5] = 0.0  # tracks without lyrics
    train = np.zeros(len(audio), bool)
    train[::2] = True
    X, stats = standardise_blocks({"audio": audio, "lyrics": lyrics}, train)
    assert X.shape == (len(audio), 24 + 16) and X.dtype == np.float32
    assert (stats["audio"]["start"], stats["audio"]["stop"], stats["lyrics"]["stop"]) == (0, 24, 40)
    np.testing.assert_array_equal(X[:5, 24:], 0.0)  # missing modality stays zero
    fit_rows = train & (np.arange(len(audio)) >= 5)
    np.testing.assert_allclose(stats["lyrics"]["mean"], lyrics[fit_rows].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stats["audio"]["mean"], audio[train].mean(0), rtol=1e-5)
    # each block has the same total variance (half of the 40 columns' worth) whatever its width and units
    assert X[train, :24].var(0).sum() == pytest.approx(20.0, rel=1e-3)
    assert X[fit_rows, 24:].var(0).sum() == pytest.approx(20.0, rel=1e-3)
    # validation rows do not move the statistics
    audio2 = audio.copy()
    audio2[~train] += 1e4
    _, stats2 = standardise_blocks({"audio": audio2, "lyrics": lyrics}, train)
    np.testing.assert_array_equal(stats2["audio"]["mean"], stats["audio"]["mean"])
    # explicit masks and re-applying saved stats
    m = {"lyrics": np.arange(len(audio)) >= 5}
    X3, _ = standardise_blocks({"audio": audio, "lyrics": lyrics}, train, masks=m, stats=stats)
    np.testing.assert_allclose(X3, X)
    with pytest.raises(ValueError, match="lyrics"):
        standardise_blocks({"lyrics": lyrics[:-1]}, train)


# ---------------------------------------------------------------- fit

def test_loss_decreases_and_history_is_logged():
    audio, _, _, _, ids = planted()
    seed_everything(0)
    res = fit(mlp(audio), audio, TrainConfig.tiny(epochs=15, patience=100, lr=3e-3), ids)
    h = res.history
    cols = {"epoch", "beta", "train_loss", "train_recon", "train_kl", "val_loss", "val_recon", "val_kl",
            "active_units", "val_elbo_loss", "best"}
    assert cols <= set(h.columns) and len(h) == 15
    assert h["train_loss"].iloc[-1] < 0.5 * h["train_loss"].iloc[0]
    assert h["val_recon"].iloc[-1] < h["val_recon"].iloc[0]
    assert res.latents.shape == (len(audio), 4) and np.isfinite(res.latents).all()


def test_split_is_by_song_without_leak():
    audio, _, _, _, ids = planted(windows=3)
    seed_everything(0)
    res = fit(mlp(audio), audio, TrainConfig.tiny(epochs=1, val_fraction=0.3), ids)
    tr, va = set(ids[res.train_mask]), set(ids[res.val_mask])
    assert tr and va and not (tr & va)
    assert (res.train_mask ^ res.val_mask).all()


def test_early_stopping_restores_best_weights():
    audio, _, _, _, ids = planted()
    seed_everything(0)
    model = mlp(audio)
    # a large lr makes the validation loss noisy, so the best epoch is not simply the last
    res = fit(model, audio, TrainConfig.tiny(epochs=40, patience=3, lr=3e-2), ids)
    h = res.history
    assert h["val_elbo_loss"].idxmin() == h.index[h["best"]][0] == res.best_epoch
    assert len(h) < 40 and len(h) - 1 - res.best_epoch == 3  # stopped after `patience` worse epochs
    for k, v in model.state_dict().items():
        assert torch.equal(v, res.best_state[k])


def test_warmup_ramps_beta_linearly():
    audio, _, _, _, ids = planted()
    seed_everything(0)
    res = fit(mlp(audio), audio, TrainConfig.tiny(epochs=6, patience=100, beta=2.0, warmup_epochs=4), ids)
    np.testing.assert_allclose(res.history["beta"], [0.5, 1.0, 1.5, 2.0, 2.0, 2.0])


def _train_kl(X, ids, beta, epochs=25, free_bits=0.0):
    seed_everything(0)
    cfg = TrainConfig.tiny(epochs=epochs, patience=100, lr=3e-3, beta=beta, free_bits=free_bits)
    res = fit(mlp(X), X, cfg, ids)
    return res.history.iloc[-1]


def test_beta_controls_kl():
    """How we read "KL goes to ~0 with beta -> 0 and is positive otherwise".

    With beta = 0 the KL is unconstrained and may grow, so we do not test the raw KL at small beta.
    We test (1) the KL *term of the loss*, beta * KL, shrinks toward 0 as beta -> 0; (2) KL > 0 at
    beta = 1 (the latent carries information about the planted clusters); (3) a large beta drives
    the KL itself toward 0 (posterior collapse); (4) free bits keep it off zero under that beta.
    """
    audio, _, _, _, ids = planted()
    X = audio / audio.std()  # unit variance per feature: the reconstruction term is worth many nats
    rows = {b: _train_kl(X, ids, b) for b in (1e-3, 1e-2, 1e-1, 1.0, 50.0)}
    terms = [b * rows[b]["train_kl"] for b in (1e-3, 1e-2, 1e-1, 1.0)]
    assert all(a < b for a, b in zip(terms, terms[1:])), terms
    assert terms[0] < 0.01 * terms[-1]
    assert rows[1.0]["train_kl"] > 1.0 and rows[1.0]["active_units"] >= 1
    assert rows[50.0]["train_kl"] < 0.05 * rows[1.0]["train_kl"]
    assert rows[50.0]["active_units"] == 0
    fb = _train_kl(X, ids, 50.0, free_bits=0.5)
    assert fb["train_kl"] > 4 * rows[50.0]["train_kl"]


def test_same_seed_same_latents_on_cpu():
    audio, _, _, _, ids = planted()
    cfg = TrainConfig.tiny(epochs=4, device="cpu")
    lat = []
    for seed in (0, 0, 1):
        seed_everything(seed)
        lat.append(fit(mlp(audio), audio, TrainConfig(**{**cfg.__dict__, "seed": seed}), ids).latents)
    np.testing.assert_array_equal(lat[0], lat[1])
    assert not np.allclose(lat[0], lat[2])  # the seed does matter


def test_kmeans_on_mlp_vae_latents_recovers_planted_genre():
    audio, lyrics, genre, lang, ids = planted()
    train = np.ones(len(ids), bool)
    X, _ = standardise_blocks({"audio": audio}, train)
    # blocks keep the total variance of a z-scored vector, so the usual beta = 1 keeps latents in use
    seed_everything(0)
    res = fit(mlp(X), X, TrainConfig.tiny(epochs=60, patience=10, beta=1.0), ids)
    assert res.history["active_units"].iloc[-1] >= 1
    labels = KMeans(3, n_init=10, random_state=0).fit_predict(res.latents)
    assert adjusted_rand_score(genre, labels) >= 0.9
    assert adjusted_rand_score(lang, labels) < 0.2  # the audio block knows nothing of language


def test_active_units_counts_varying_dimensions():
    rng = np.random.default_rng(0)
    mu = np.c_[rng.normal(0, 1, 100), rng.normal(0, 0.01, 100), np.zeros(100)]
    assert active_units(mu) == 1
    assert pick_device("cpu").type == "cpu"


def test_memmap_input_is_read_per_batch(tmp_path):
    audio, _, _, _, ids = planted()
    mm = np.lib.format.open_memmap(tmp_path / "x.npy", mode="w+", dtype=np.float32, shape=audio.shape)
    mm[:] = audio
    mm.flush()
    X = np.load(tmp_path / "x.npy", mmap_mode="r")
    ds = RowBatches(X, np.array([5, 1, 9]))
    xb, cb = ds[[2, 0]]
    np.testing.assert_array_equal(xb.numpy(), audio[[5, 9]])  # sorted row order
    seed_everything(0)
    a = fit(mlp(audio), X, TrainConfig.tiny(epochs=2), ids).latents
    seed_everything(0)
    b = fit(mlp(audio), audio, TrainConfig.tiny(epochs=2), ids).latents
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- runs on disk

def test_run_writes_folder_and_is_not_retrained(tmp_path):
    audio, _, _, _, ids = planted()
    cfg = TrainConfig.tiny(epochs=3)
    mcfg = {"input_dim": audio.shape[1], "latent_dim": 3, "hidden": [16]}
    r1 = run("mlp_vae", mcfg, audio, ids, cfg, tmp_path, name="demo")
    d = r1.run_dir
    assert d.parent == tmp_path and d.name.startswith("demo-") and not r1.cached
    for f in ("config.json", "checkpoint.pt", "history.csv", "latents.npz", "reconstructions.npz", "done.json"):
        assert (d / f).exists(), f
    conf = json.loads((d / "config.json").read_text())
    assert conf["model_config"]["latent_dim"] == 3 and conf["train_config"]["epochs"] == 3
    with np.load(d / "latents.npz") as z:
        np.testing.assert_array_equal(z["mu"], r1.latents)
        np.testing.assert_array_equal(z["track_ids"], ids)
    with np.load(d / "reconstructions.npz") as z:
        assert z["x_in"].shape == z["x_out"].shape == (8, audio.shape[1])
        assert set(z["track_ids"]) <= set(ids[r1.val_mask])  # validation songs only

    mtime = (d / "checkpoint.pt").stat().st_mtime_ns
    r2 = run("mlp_vae", mcfg, audio, ids, cfg, tmp_path, name="demo")
    assert r2.cached and r2.run_dir == d and (d / "checkpoint.pt").stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(r2.latents, r1.latents)
    # the reloaded checkpoint gives the same outputs as the trained model
    x = torch.from_numpy(audio[:10])
    assert torch.equal(r2.model.embed(x), r1.model.eval().embed(x))
    assert torch.equal(load_checkpoint(d / "checkpoint.pt").embed(x), r1.model.embed(x))
    np.testing.assert_array_equal(load_run(d).latents, r1.latents)

    r3 = run("mlp_vae", mcfg, audio, ids, cfg, tmp_path, name="demo", force=True)
    assert not r3.cached
    np.testing.assert_array_equal(r3.latents, r1.latents)  # same seed, same result
    # any change of parameters or data makes a new run
    assert run("mlp_vae", mcfg, audio, ids, TrainConfig.tiny(epochs=2), tmp_path, name="demo").run_dir != d
    assert run("mlp_vae", mcfg, audio + 1, ids, cfg, tmp_path, name="demo").run_dir != d


def test_unfinished_run_is_not_loaded(tmp_path):
    with pytest.raises(FileNotFoundError, match="done.json"):
        load_run(tmp_path)


def test_conv_run_saves_spectrogram_reconstructions(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.repeat([f"s{i}" for i in range(20)], 2)
    patterns = rng.normal(size=(2, 1, 16, 32))  # two planted spectrogram shapes + noise
    X = (patterns[np.arange(40) % 2] + 0.3 * rng.normal(size=(40, 1, 16, 32))).astype(np.float32)
    mcfg = {"input_shape": [1, 16, 32], "latent_dim": 4, "n_layers": 2, "first_channels": 4, "hidden_channels": 4}
    cfg = TrainConfig.tiny(epochs=10, batch_size=8, lr=3e-3, patience=100, n_recon_examples=3)
    res = run("conv_vae", mcfg, X, ids, cfg, tmp_path)
    with np.load(res.run_dir / "reconstructions.npz") as z:
        assert z["x_in"].shape == z["x_out"].shape == (3, 1, 16, 32)
    assert res.latents.shape == (40, 4)
    h = res.history
    assert h["val_recon"].iloc[-1] < 0.95 * h["val_recon"].iloc[0] and h["active_units"].iloc[-1] >= 1
    assert run("conv_vae", mcfg, X, ids, cfg, tmp_path).cached


def test_cvae_run_records_condition_and_checks_it(tmp_path):
    audio, _, genre, lang, ids = planted()
    names = np.array(["en", "fr", "de"])[lang].astype(object)
    names[:2] = None  # missing metadata -> all-zero one-hot
    mcfg = {"input_dim": audio.shape[1], "latent_dim": 3, "hidden": [16], "n_classes": 3,
            "condition_column": "language", "classes": ["en", "fr", "de"]}
    res = run("cvae", mcfg, audio, ids, TrainConfig.tiny(epochs=2), tmp_path, cond=names)
    conf = json.loads((res.run_dir / "config.json").read_text())
    assert conf["model_config"]["condition_column"] == "language"
    assert load_run(res.run_dir).model.config["condition_column"] == "language"
    with pytest.raises(ValueError, match="pass cond"):
        fit(build_model("cvae", **mcfg), audio, TrainConfig.tiny(epochs=1), ids)
    bad = names.copy()
    bad[5] = "xx"
    with pytest.raises(ValueError, match="row 5"):
        fit(build_model("cvae", **mcfg), audio, TrainConfig.tiny(epochs=1), ids, cond=bad)
    with pytest.raises(ValueError, match="not conditioned"):
        fit(mlp(audio), audio, TrainConfig.tiny(epochs=1), ids, cond=names)


def test_multimodal_run_with_missing_modalities(tmp_path):
    audio, lyrics, genre, lang, ids = planted()
    n = len(ids)
    rng = np.random.default_rng(1)
    ma, ml = rng.random(n) > 0.25, rng.random(n) > 0.25
    ma[~ma & ~ml] = True
    X = {"audio": np.where(ma[:, None], audio, 0), "lyrics": np.where(ml[:, None], lyrics, 0),
         "mask_audio": ma, "mask_lyrics": ml}
    mcfg = {"audio_dim": audio.shape[1], "lyrics_dim": lyrics.shape[1], "latent_dim": 4, "hidden": [32]}
    res = run("multimodal_vae", mcfg, X, ids, TrainConfig.tiny(epochs=20, patience=100), tmp_path)
    h = res.history
    assert h["train_loss"].iloc[-1] < h["train_loss"].iloc[0]
    for k in ("mu_audio", "mu_lyrics"):
        assert res.extra_latents[k].shape == (n, 4) and np.isfinite(res.extra_latents[k]).all()
    assert np.isfinite(res.latents).all()
    both = ma & ml
    assert not np.allclose(res.latents[both], res.extra_latents["mu_audio"][both])
    # audio-only tracks: joint latent is the audio expert's
    np.testing.assert_allclose(res.latents[ma & ~ml], res.extra_latents["mu_audio"][ma & ~ml], atol=1e-6)
    with np.load(res.run_dir / "latents.npz") as z:
        assert {"mu", "mu_audio", "mu_lyrics", "track_ids"} <= set(z.files)
    with np.load(res.run_dir / "reconstructions.npz") as z:
        assert z["audio_out"].shape == z["audio_in"].shape
    again = load_run(res.run_dir)
    x = {k: torch.from_numpy(np.asarray(v[:6])) for k, v in X.items()}
    x = {k: (v.float() if v.dtype != torch.bool else v) for k, v in x.items()}
    assert torch.equal(again.model.embed(x, which="lyrics"), res.model.eval().embed(x, which="lyrics"))
    # encode_all matches the stored latents
    np.testing.assert_allclose(encode_all(again.model, X), res.latents, atol=1e-6)


# ---------------------------------------------------------------- callbacks and TensorBoard

def test_on_epoch_end_is_called_once_per_epoch_with_the_metrics():
    audio, _, _, _, ids = planted()
    calls = []

    class Recorder:
        def on_epoch_end(self, epoch, logs, model):
            calls.append((epoch, logs, model))

    seed_everything(0)
    model = mlp(audio)
    res = fit(model, audio, TrainConfig.tiny(epochs=5, patience=100, lr=2e-3), ids, callbacks=[Recorder()])
    assert [e for e, _, _ in calls] == list(range(5)) and all(m is model for _, _, m in calls)
    logs = calls[-1][1]
    assert {"phase", "train_loss", "val_loss", "train_recon", "val_recon", "train_kl", "val_kl", "beta", "lr",
            "seconds", "elapsed"} <= set(logs)
    assert logs["phase"] == "elbo" and logs["lr"] == 2e-3
    assert [l["elapsed"] for _, l, _ in calls] == sorted(l["elapsed"] for _, l, _ in calls)
    np.testing.assert_allclose([l["val_loss"] for _, l, _ in calls], res.history["val_loss"])
    # a plain function works too
    seen = []
    fit(mlp(audio), audio, TrainConfig.tiny(epochs=2), ids, callbacks=[lambda e, l, m: seen.append(e)])
    assert seen == [0, 1]


def _scalar_tags(tb_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(tb_dir))
    acc.Reload()
    return acc


def test_tensorboard_writes_scalars_without_changing_the_run(tmp_path):
    audio, _, _, _, ids = planted()
    mcfg = {"input_dim": audio.shape[1], "latent_dim": 3, "hidden": [16]}
    plain = run("mlp_vae", mcfg, audio, ids, TrainConfig.tiny(epochs=3), tmp_path / "plain")
    logged = run("mlp_vae", mcfg, audio, ids, TrainConfig.tiny(epochs=3, tensorboard=True), tmp_path / "tb")
    assert logged.run_dir.name == plain.run_dir.name  # the flag does not change results, so not the id
    np.testing.assert_array_equal(logged.latents, plain.latents)
    assert not (plain.run_dir / "tb").exists()
    assert list((logged.run_dir / "tb").glob("events.out.tfevents.*"))
    acc = _scalar_tags(logged.run_dir / "tb")
    tags = set(acc.Tags()["scalars"])
    assert {"loss/train", "loss/val", "recon/train", "recon/val", "kl/train", "kl/val", "beta", "lr",
            "elapsed"} <= tags
    assert [s.step for s in acc.Scalars("loss/val")] == [0, 1, 2]
    np.testing.assert_allclose([s.value for s in acc.Scalars("loss/val")], logged.history["val_loss"], rtol=1e-6)


def test_tensorboard_logs_pretraining_under_its_own_tags(tmp_path):
    audio, _, _, _, ids = planted()
    mcfg = {"input_dim": audio.shape[1], "latent_dim": 3, "hidden": [16], "n_clusters": 3}
    cfg = TrainConfig.tiny(epochs=2, pretrain_epochs=3, pretrain_restarts=2, tensorboard=True)
    res = run("vade", mcfg, audio, ids, cfg, tmp_path)
    acc = _scalar_tags(res.run_dir / "tb")
    assert [s.step for s in acc.Scalars("pretrain/recon/train")] == list(range(6))  # both restarts, one axis
    assert [s.step for s in acc.Scalars("kl/train")] == [0, 1]


def test_tensorboard_missing_says_how_to_install_it(tmp_path, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # makes the import fail
    audio, _, _, _, ids = planted()
    mcfg = {"input_dim": audio.shape[1], "latent_dim": 3, "hidden": [16]}
    with pytest.raises(ImportError, match="pip install tensorboard"):
        run("mlp_vae", mcfg, audio, ids, TrainConfig.tiny(epochs=1, tensorboard=True), tmp_path)


def test_new_train_fields_keep_old_run_ids():
    """Run ids made before ``pretrain_epochs``/``tensorboard`` existed stay valid: both are left out of the key
    at their defaults, and ``tensorboard`` always."""
    key = run_key("mlp_vae", {}, TrainConfig(), "fp")["train"]
    assert "pretrain_epochs" not in key and "tensorboard" not in key
    assert run_key("vade", {}, TrainConfig(pretrain_epochs=5), "fp")["train"]["pretrain_epochs"] == 5
    assert "tensorboard" not in run_key("mlp_vae", {}, TrainConfig(tensorboard=True), "fp")["train"]


def test_a_library_upgrade_is_another_run_id(monkeypatch):
    before = params_hash(run_key("mlp_vae", {}, TrainConfig(), "fp"))
    monkeypatch.setattr(store, "library_versions", lambda *names: {n: "99.0" for n in names})
    assert params_hash(run_key("mlp_vae", {}, TrainConfig(), "fp")) != before


def test_pretraining_fields_are_in_the_run_id_only_when_there_is_pretraining():
    """``gmm_n_init`` and ``pretrain_restarts`` change a VaDE run, so they key it; without pretraining they
    change nothing, so the run ids of the other models are the ones they had before the fields existed."""
    plain = run_key("mlp_vae", {}, TrainConfig(), "fp")["train"]
    assert "gmm_n_init" not in plain and "pretrain_restarts" not in plain
    assert plain == run_key("mlp_vae", {}, TrainConfig(gmm_n_init=3, pretrain_restarts=2), "fp")["train"]
    key = run_key("vade", {}, TrainConfig(pretrain_epochs=5), "fp")["train"]
    assert key["gmm_n_init"] == TrainConfig().gmm_n_init and key["pretrain_restarts"] == TrainConfig().pretrain_restarts
    a, b = (params_hash(run_key("vade", {}, TrainConfig(pretrain_epochs=5, **kw), "fp"))
            for kw in ({}, {"pretrain_restarts": 1}))
    assert a != b


def test_a_finished_run_of_the_same_hash_under_another_name_is_loaded_not_retrained(tmp_path):
    rng = np.random.default_rng(0)
    ids = np.repeat([f"s{i}" for i in range(12)], 2)
    X = rng.normal(size=(24, 5)).astype(np.float32)
    cfg = TrainConfig.tiny(epochs=2)
    first = store.run("mlp_vae", {"input_dim": 5, "latent_dim": 2, "hidden": [4]}, X, ids, cfg, tmp_path, name="mlp_vae-s0")
    again = store.run("mlp_vae", {"input_dim": 5, "latent_dim": 2, "hidden": [4]}, X, ids, cfg, tmp_path,
                      name="sweep-mlp_vae-beta=1.0-s0")
    assert again.cached and again.run_dir == first.run_dir
    np.testing.assert_array_equal(again.latents, first.latents)
    other = store.run("mlp_vae", {"input_dim": 5, "latent_dim": 2, "hidden": [4]}, X, ids,
                      TrainConfig.tiny(epochs=3), tmp_path, name="sweep-mlp_vae-beta=1.0-s0")
    assert not other.cached and other.run_dir.name.startswith("sweep-mlp_vae-beta=1.0-s0-")
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["mlp_vae", "sweep"]


# ---------------------------------------------------------------- neighbour consistency

def test_neighbour_table_holds_training_rows_only_and_never_the_row_itself():
    from songspace.training.neighbours import neighbour_table
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 6))
    rows = np.arange(0, 30, 2)  # the even rows are the training songs
    table = neighbour_table(X, rows, 4)
    assert table.shape == (30, 4)
    assert (table[1::2] == -1).all()  # validation rows neither pull nor are pulled
    assert np.isin(table[rows], rows).all() and not (table[rows] == rows[:, None]).any()
    # the nearest other training row by cosine is the first column
    A = X[rows] / np.linalg.norm(X[rows], axis=1, keepdims=True)
    sim = A @ A.T
    np.fill_diagonal(sim, -np.inf)
    np.testing.assert_array_equal(table[rows, 0], rows[sim.argmax(1)])


def test_neighbour_consistency_pulls_neighbours_together_and_is_in_the_run_id():
    audio, _, genre, _, ids = planted(windows=1)
    X, _ = standardise_blocks({"audio": audio}, np.ones(len(ids), bool))
    spread = {}
    for w in (0.0, 10.0):
        seed_everything(0)
        res = fit(mlp(X), X, TrainConfig.tiny(epochs=20, patience=20, beta=0.25, neighbour_weight=w), ids)
        assert (w > 0) == ("train_consistency" in res.history)
        Z = res.latents
        spread[w] = np.mean([Z[genre == g].var(0).sum() / Z.var(0).sum() for g in range(3)])
    assert spread[10.0] < spread[0.0]  # within-genre share of the latent variance shrinks
    assert "neighbour_weight" not in run_key("mlp_vae", {}, TrainConfig(), "fp")["train"]
    assert "neighbours" not in run_key("mlp_vae", {}, TrainConfig(neighbours=5), "fp")["train"]
    on = run_key("mlp_vae", {}, TrainConfig(neighbour_weight=1.0), "fp")["train"]
    assert on["neighbour_weight"] == 1.0 and on["neighbours"] == 10


def test_window_neighbour_table_pairs_a_patch_with_the_same_stretch_of_a_neighbouring_song():
    from songspace.training.neighbours import neighbour_table, window_neighbour_table
    rng = np.random.default_rng(0)
    n_rows = rng.integers(2, 6, size=12)  # songs of 2-5 patches
    ids = np.repeat([f"s{i:02d}" for i in range(12)], n_rows)
    centre = rng.normal(size=(12, 5))
    X = np.repeat(centre, n_rows, axis=0) + 0.01 * rng.normal(size=(len(ids), 5))
    rows = np.flatnonzero(~np.isin(ids, ["s03", "s07"]))  # two validation songs
    table = window_neighbour_table(X, ids, rows, 3)
    assert table.shape == (len(ids), 3) and (table[np.isin(ids, ["s03", "s07"])] == -1).all()
    assert np.isin(table[rows], rows).all() and not (ids[table[rows]] == ids[rows][:, None]).any()
    start = {s: int(np.flatnonzero(ids == s)[0]) for s in np.unique(ids)}
    position = np.arange(len(ids)) - np.array([start[s] for s in ids])
    for i in rows:  # row p of a song meets row p (cyclically) of each neighbouring song
        for j in table[i]:
            assert position[j] == position[i] % (ids == ids[j]).sum()
    train_songs = np.unique(ids[rows])  # the songs' neighbours are those of their mean rows
    means = np.stack([X[ids == s].mean(0) for s in train_songs])
    song_nb = neighbour_table(means, np.arange(len(train_songs)), 3)
    first = {s: train_songs[song_nb[k, 0]] for k, s in enumerate(train_songs)}
    assert all(ids[table[i, 0]] == first[ids[i]] for i in rows)


def test_neighbour_consistency_reaches_the_transfer_conv_vae_patches():
    from songspace.training.batches import make_loader
    rng = np.random.default_rng(1)
    ids = np.repeat([f"s{i}" for i in range(8)], 3)
    X = {"features": rng.normal(size=(24, 6)).astype(np.float32), "logmel": rng.normal(size=(24, 1, 8, 8)).astype(np.float32)}
    model = build_model("conv_vae", encoder="musicnn-msd", input_dim=6, input_shape=[1, 8, 8], latent_dim=2,
                        hidden=[], n_layers=2, first_channels=4, hidden_channels=4)
    res = fit(model, X, TrainConfig.tiny(epochs=2, neighbour_weight=1.0, neighbours=2, val_fraction=0.0), ids)
    assert "train_consistency" in res.history and np.isfinite(res.history["train_consistency"]).all()
    table = np.tile(np.arange(24)[::-1, None], (1, 2))  # each row's neighbour is a fixed other row
    xb, _, nb = next(iter(make_loader(X, np.arange(24), None, 5, True, 0, 0, neighbours=table)))
    batch_rows = [int(np.flatnonzero((X["features"] == r).all(1))[0]) for r in xb["features"].numpy()]
    for key in X:  # the dict's neighbour rows, read in row order, come back in the batch's order
        np.testing.assert_allclose(nb[key].numpy(), X[key][[23 - r for r in batch_rows]])


def test_neighbour_consistency_refuses_what_it_cannot_pull_and_conditions():
    audio, _, _, lang, ids = planted(windows=1)
    cfg = TrainConfig.tiny(epochs=1, neighbour_weight=1.0)
    with pytest.raises(ValueError, match="row vectors"):
        fit(build_model("conv_vae", input_shape=[1, 8, 8], latent_dim=2), np.zeros((len(ids), 1, 8, 8), np.float32),
            cfg, ids)
    with pytest.raises(ValueError, match="without a condition"):
        fit(build_model("cvae", input_dim=audio.shape[1], latent_dim=2, hidden=[8], n_classes=3,
                        condition_column="lang"), audio, cfg, ids, cond=lang)
