"""The executor: local processes and a dask.distributed cluster give the same results, in order."""
import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from songspace.features.audio import AudioParams
from songspace.features.extract import extract_audio
from songspace.features.saved import load_audio_features
from songspace.parallel import ENV_SCHEDULER, map_ordered, scheduler_address

distributed = pytest.importorskip("distributed")


def _where(x):
    """Runs on a Dask worker: says which one."""
    return x * 2, distributed.get_worker().address


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        yield c


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_local_map_keeps_order(n_jobs):
    items = list(range(-20, 20))
    assert list(map_ordered(abs, items, n_jobs=n_jobs, progress=False)) == [abs(i) for i in items]


def test_scheduler_from_env(monkeypatch, cluster):
    monkeypatch.delenv(ENV_SCHEDULER, raising=False)
    assert scheduler_address() is None
    monkeypatch.setenv(ENV_SCHEDULER, cluster.scheduler_address)
    assert scheduler_address() == cluster.scheduler_address
    out = list(map_ordered(_where, list(range(12)), progress=False, max_in_flight=3))
    assert [v for v, _ in out] == [2 * i for i in range(12)]
    # get_worker() fails outside a Dask worker: the work really ran on the cluster
    assert {w for _, w in out} <= {w.address for w in cluster.workers.values()}


def test_dask_features_bit_identical_to_local(tmp_path, cluster, monkeypatch):
    monkeypatch.delenv(ENV_SCHEDULER, raising=False)
    sr, rng, rows = 22050, np.random.default_rng(0), []
    for i in range(4):
        y = 0.2 * np.sin(2 * np.pi * (200 + 100 * i) * np.arange(5 * sr) / sr) + 0.02 * rng.standard_normal(5 * sr)
        sf.write(tmp_path / f"t{i}.wav", y.astype(np.float32), sr)
        rows.append(dict(track_id=f"t{i}", audio_path=str(tmp_path / f"t{i}.wav"), has_audio=True))
    tracks = pd.DataFrame(rows)
    p = AudioParams(n_mfcc=8, n_mels=16, patch_frames=32)
    extract_audio(tracks, p, tmp_path / "local", n_jobs=1, cache_dir=False, progress=False)
    st = extract_audio(tracks, p, tmp_path / "dask", scheduler=cluster.scheduler_address, cache_dir=False,
                       progress=False)
    assert st["n_ok"] == 4 and st["decoded"] == 4
    extract_audio(tracks, p, tmp_path / "loky", n_jobs=2, cache_dir=False, progress=False)
    a = load_audio_features(tmp_path / "local")
    for other in ["dask", "loky"]:
        b = load_audio_features(tmp_path / other)
        for k in ["windows", "descriptors_windows", "descriptors_tracks"]:
            pd.testing.assert_frame_equal(a[k], b[k], check_exact=True)
        np.testing.assert_array_equal(np.asarray(a["logmel"]), np.asarray(b["logmel"]))
