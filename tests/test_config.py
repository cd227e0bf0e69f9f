"""One home for settings: profiles with overrides, sweep grids that train as the profile says, artifact paths."""
import pytest
from songspace import config
from songspace.evaluation import sweep


def test_overrides_merge_nested_settings_and_name_unknown_ones():
    p = config.profile("full", {"seeds": [0], "budget": {"run_samples": 5}})
    assert p["seeds"] == [0] and p["budget"]["run_samples"] == 5
    assert p["budget"]["sweep_samples"] == config.PROFILES["full"]["budget"]["sweep_samples"]  # the rest kept
    assert config.PROFILES["full"]["budget"]["run_samples"] != 5  # the table itself is untouched
    with pytest.raises(ValueError, match="no setting 'budget.nope'"):
        config.profile("full", {"budget": {"nope": 1}})
    with pytest.raises(ValueError, match="unknown profile"):
        config.profile("huge")


@pytest.mark.parametrize("name, grid", [("full", "seed"), ("tiny", None)])
def test_mlp_sweep_points_train_with_the_profiles_settings(name, grid):
    p = config.profile(name)
    configs = sweep.sweep_configs(grid or p["sweep"], training={"mlp_vae": p["mlp_train"], "conv_vae": p["conv_train"]})
    mlp = [c for c in configs if c["model"] == "mlp_vae"]
    assert mlp and all(c[k] == v for c in mlp for k, v in p["mlp_train"].items())
    conv = [c for c in configs if c["model"] == "conv_vae"]
    assert conv and all("epochs" in c for c in conv)  # the ConvVAE grids set their own (shorter) training
    # ... and take the rest from the profile, e.g. the free bits that keep the ConvVAE from collapsing
    assert all(c.get("free_bits", 0.0) == p["conv_train"].get("free_bits", 0.0) for c in conv)


def test_a_grid_keeps_its_own_training_setting():
    spec = [{"model": "mlp_vae", "beta": [1.0, 2.0], "epochs": 7}]
    configs = sweep.sweep_configs(spec, training={"mlp_vae": {"epochs": 300, "lr": 1e-3}})
    assert [c["epochs"] for c in configs] == [7, 7] and all(c["lr"] == 1e-3 for c in configs)


def test_every_result_file_has_one_path(tmp_path):
    dirs = config.dataset_dirs("x", tmp_path / "data", tmp_path / "results")
    for key, name in config.RESULT_FILES.items():
        assert dirs[key] == tmp_path / "results" / name


def test_the_default_sweep_leaves_the_convvae_grid_to_the_seed_sweep():
    default = sweep.sweep_configs(config.profile("full")["sweep"])
    assert default and {c["model"] for c in default} == {"mlp_vae"}
    seed = sweep.sweep_configs("seed")
    conv = [c for c in seed if c["model"] == "conv_vae"]
    # the seed report's grid: 3 first-layer x 2 hidden widths, kernel 3/5 x lr 1e-3/5e-4 (one point shared), 80 epochs
    assert len(conv) == 6 + 4 - 1 + 1
    assert {c["first_channels"] for c in conv} == {16, 32, 64} and {c["epochs"] for c in conv} == {10, 80}
    assert [c["config_hash"] for c in seed if c["model"] == "mlp_vae"] == [c["config_hash"] for c in default]
    with pytest.raises(ValueError, match="unknown sweep 'nope'"):
        sweep.sweep_configs("nope")
