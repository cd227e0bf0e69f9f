"""Sweep grids and the resumable runner: failures recorded, interrupted sweeps resume, parallel runs."""
import json

import pandas as pd
import pytest
from songspace.cache import params_hash
from songspace.evaluation import runner, sweep


def test_grid_product_and_stable_names(tmp_path):
    spec = {"model": ["mlp_vae", "conv_vae"], "beta": [0.5, 1.0, 4.0], "epochs": 3, "hidden": [[256, 128]]}
    configs = runner.grid(spec)
    assert len(configs) == 6
    assert all(c["epochs"] == 3 and c["hidden"] == [256, 128] for c in configs)
    assert [(c["model"], c["beta"]) for c in configs[:3]] == [("mlp_vae", 0.5), ("mlp_vae", 1.0), ("mlp_vae", 4.0)]
    c0 = configs[0]
    settings = {k: v for k, v in c0.items() if k not in ("run_name", "config_hash")}
    assert c0["config_hash"] == params_hash(settings)
    assert c0["run_name"].startswith("model=mlp_vae_beta=0.5_hidden=256-128_")
    assert len({c["run_name"] for c in configs}) == 6 and len({c["config_hash"] for c in configs}) == 6
    y = tmp_path / "sweep.yaml"
    y.write_text("model: [mlp_vae, conv_vae]\nbeta: [0.5, 1.0, 4.0]\nepochs: 3\nhidden: [[256, 128]]\n")
    assert runner.grid(y) == configs  # same spec from YAML: same names and hashes
    assert runner.grid({"a": 1})[0]["run_name"].startswith("run_")


def test_grid_bad_spec(tmp_path):
    with pytest.raises(ValueError, match="empty list"):
        runner.grid({"a": []})
    with pytest.raises(ValueError, match="reserved"):
        runner.grid({"status": [1, 2]})
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="bad.yaml"):
        runner.grid(bad)


class Counter:
    """run_one that counts its calls in a file (works across processes) and can fail on chosen configs."""

    def __init__(self, log, fail_on=(), exc=RuntimeError):
        self.log, self.fail_on, self.exc = log, set(fail_on), exc

    def __call__(self, cfg):
        with open(self.log, "a") as f:
            f.write(cfg["run_name"] + "\n")
        if cfg["i"] in self.fail_on:
            raise self.exc(f"boom on {cfg['i']}")
        return {"score": cfg["i"] * cfg["b"], "beta": -1}


def _calls(log):
    return log.read_text().split() if log.exists() else []


def test_failure_recorded_then_only_missing_rerun(tmp_path):
    configs = runner.grid({"i": [0, 1, 2, 3, 4], "b": 2})
    out = tmp_path / "sweep.csv"
    log1 = tmp_path / "calls1.txt"
    df = runner.run_sweep(configs, Counter(log1, fail_on={2}), out)
    assert len(_calls(log1)) == 5
    assert list(df.status) == ["ok", "ok", "error", "ok", "ok"]
    assert "boom on 2" in df.error[2] and pd.isna(df.score[2])
    assert list(df.score.dropna()) == [0, 2, 6, 8]
    assert "out_beta" not in df.columns and (df.beta.dropna() == -1).all()  # no collision here: beta is a metric
    assert len(list((tmp_path / "sweep.csv.parts").glob("*.json"))) == 5
    log2 = tmp_path / "calls2.txt"
    df2 = runner.run_sweep(configs, Counter(log2), out)
    assert _calls(log2) == [configs[2]["run_name"]]
    assert (df2.status == "ok").all() and list(df2.score) == [0, 2, 4, 6, 8]
    pd.testing.assert_frame_equal(pd.read_csv(out)[["run_name", "score"]], df2[["run_name", "score"]].astype({"score": float}),
                                  check_dtype=False)


class Interrupt(BaseException):
    pass


def test_interrupted_sweep_resumes(tmp_path):
    configs = runner.grid({"i": list(range(6)), "b": 1})
    out = tmp_path / "s.csv"
    log1 = tmp_path / "c1.txt"
    with pytest.raises(Interrupt):
        runner.run_sweep(configs, Counter(log1, fail_on={2}, exc=Interrupt), out)
    assert len(_calls(log1)) == 3 and not out.exists()
    assert len(list((tmp_path / "s.csv.parts").glob("*.json"))) == 2
    log2 = tmp_path / "c2.txt"
    df = runner.run_sweep(configs, Counter(log2), out)
    assert sorted(_calls(log2)) == sorted(c["run_name"] for c in configs[2:])
    assert (df.status == "ok").all() and len(df) == 6
    log3 = tmp_path / "c3.txt"
    runner.run_sweep(configs, Counter(log3), out)
    assert _calls(log3) == []  # everything done: nothing reruns


def test_metric_named_like_a_setting_is_prefixed(tmp_path):
    df = runner.run_sweep(runner.grid({"i": [1], "b": 3}), lambda c: {"b": 99, "score": 1.5}, tmp_path / "x.csv")
    assert df.b[0] == 3 and df.out_b[0] == 99
    part = json.loads(next((tmp_path / "x.csv.parts").glob("*.json")).read_text())
    assert part["status"] == "ok" and part["score"] == 1.5


def test_parallel_joblib(tmp_path):
    configs = runner.grid({"i": [0, 1, 2, 3], "b": 10})
    log = tmp_path / "calls.txt"
    df = runner.run_sweep(configs, Counter(log, fail_on={1}), tmp_path / "p.csv", n_jobs=2)
    assert len(_calls(log)) == 4
    assert list(df.status) == ["ok", "error", "ok", "ok"] and list(df.run_name) == [c["run_name"] for c in configs]


def test_duplicate_configs_refused(tmp_path):
    c = runner.grid({"i": [1], "b": 1})
    with pytest.raises(ValueError, match="more than once"):
        runner.run_sweep(c + c, Counter(tmp_path / "l"), tmp_path / "d.csv")


def test_dask_scheduler(tmp_path):
    from distributed import LocalCluster

    configs = runner.grid({"i": [0, 1, 2], "b": 1})
    log = tmp_path / "calls.txt"
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None) as lc:
        df = runner.run_sweep(configs, Counter(log, fail_on={0}), tmp_path / "d.csv", scheduler=lc.scheduler_address)
    assert len(_calls(log)) == 3 and list(df.status) == ["error", "ok", "ok"]


def test_a_pruned_configuration_is_listed_and_never_run(tmp_path, caplog):
    configs = runner.grid({"i": [0, 1, 2], "b": 1})
    out, log = tmp_path / "p.csv", tmp_path / "calls.txt"
    runner.record(configs[1], out, "pruned", pruned_epoch=4, pruned_val_neg_elbo=12.5)
    with caplog.at_level("WARNING", logger="songspace.evaluation.runner"):
        df = runner.run_sweep(configs, Counter(log), out)
    assert "failed" not in caplog.text  # stopped early is not failed
    assert _calls(log) == [configs[0]["run_name"], configs[2]["run_name"]]
    assert list(df.status) == ["ok", "pruned", "ok"] and df.pruned_epoch[1] == 4 and pd.isna(df.score[1])
    assert runner.status_line(df) == "2/3 configurations ok, 1 stopped early (pruned), 0 failed"
    runner.run_sweep(configs, Counter(log), out)  # resumed: nothing left to run
    assert len(_calls(log)) == 2


def test_a_pruned_part_counts_only_under_the_settings_that_pruned_it(tmp_path):
    configs = runner.grid({"model": "mlp_vae", "i": [0, 1], "b": 1})
    out, log = tmp_path / "p.csv", tmp_path / "calls.txt"
    runner.record(configs[1], out, "pruned", pruned_epoch=4, pruned_by="successive halving, min_epochs 3, "
                  "reduction_factor 3")
    kept, said = sweep.prune_sweep(configs, None, out, None)  # the screen is off now: nothing stays pruned
    assert kept == configs and said == ""
    df = runner.run_sweep(kept, Counter(log), out)
    assert list(df.status) == ["ok", "ok"] and len(_calls(log)) == 2


def test_the_sweep_context_changes_with_every_input_a_configuration_trains_on(tmp_path, monkeypatch):
    from songspace.features.lyrics import backend_slug

    interim, processed = tmp_path / "interim", tmp_path / "processed"
    interim.mkdir(), processed.mkdir()
    (interim / "tracks.parquet").write_bytes(b"t")
    backend = "st:/models/my-model"  # a lyrics file named by its slug
    job = sweep.SweepJob(interim, processed, tmp_path / "runs", [0], ["genre"], backend, audio_backend="musicnn-msd")
    hashes = [params_hash(job.context())]
    for name in ("logmel.npy", "audio_musicnn-msd_windows.npy", "features.json", f"lyrics_{backend_slug(backend)}.npy"):
        (processed / name).write_text(json.dumps({"params": {"n_mels": 96}, "stats": {"wall_s": 1.0}})
                                      if name == "features.json" else "x")
        hashes.append(params_hash(job.context()))
    assert len(set(hashes)) == len(hashes)  # each file moved the hash
    meta = processed / "features.json"
    meta.write_text(json.dumps({"params": {"n_mels": 96}, "stats": {"wall_s": 9.0, "desc_cached": 3}}))
    assert params_hash(job.context()) == hashes[-1]  # 01 re-run on the same audio: the seconds are no input
    meta.write_text(json.dumps({"params": {"n_mels": 64}, "stats": {"wall_s": 1.0}}))
    assert params_hash(job.context()) != hashes[-1]  # its parameters are
    meta.write_text(json.dumps({"params": {"n_mels": 96}, "stats": {"wall_s": 1.0}}))
    monkeypatch.setattr(sweep, "library_versions", lambda *names: {n: "99.0" for n in names})
    assert params_hash(job.context()) != hashes[-1]  # so does another torch or scikit-learn
