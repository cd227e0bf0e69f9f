"""Repository hygiene: committed notebooks carry no outputs, each has one parameters cell."""
import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = ["00_data", "01_features", "02_mlp_vae", "03_conv_vae", "04_sweeps", "05_clustering", "06_report"]


def committed_notebooks():
    out = subprocess.run(["git", "ls-files", "notebooks/*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True)
    return [ROOT / p for p in out.stdout.split()]


def test_every_stage_has_a_notebook():
    names = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert names == EXPECTED


@pytest.mark.parametrize("nb_path", committed_notebooks(), ids=lambda p: p.name)
def test_committed_notebook_is_stripped_and_parameterised(nb_path):
    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{nb_path.name}: code cells {dirty} have outputs; run `make strip`"
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, f"{nb_path.name}: needs exactly one cell tagged 'parameters'"
    src = "".join(tagged[0]["source"])
    for name in ("dataset", "data_root", "results_root", "profile"):
        assert f"{name} =" in src, f"{nb_path.name}: parameters cell lacks {name}"
    body = "".join("".join(c["source"]) for c in code)
    assert "sys.path" not in body, f"{nb_path.name}: import songspace, don't patch sys.path"


@pytest.mark.parametrize("nb_path", committed_notebooks(), ids=lambda p: p.name)
def test_papermill_reads_every_parameter_line(nb_path, caplog):
    """papermill's inspector warns "Unable to parse line" in every run's log for a comment with a second
    ``=`` ("(-1 = all cores)"); each parameter should come out with its default and its help text."""
    from papermill.translators import PythonTranslator

    nb = json.loads(nb_path.read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    with caplog.at_level("WARNING", logger="papermill"):
        found = PythonTranslator.inspect({"source": "".join(cell["source"])})
    assert not [r.message for r in caplog.records if "Unable to parse" in r.message]
    assert {"dataset", "data_root", "results_root", "profile"} <= {p.name for p in found}


def test_no_data_or_results_tracked():
    out = subprocess.run(["git", "ls-files", "data", "results"], cwd=ROOT, capture_output=True, text=True, check=True)
    tracked = [p for p in out.stdout.split() if not p.endswith((".gitkeep", "README.md"))]
    assert not tracked, f"generated or raw data is tracked: {tracked[:5]}"
