# songspace pipeline: the Makefile's targets are the files each stage writes.
# Two commands on a fresh machine: `make all` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := all

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
ENV_STAMP := $(VENV)/.installed

# Where `make data` copies JamendoLyrics from: a local folder or a URL.
# The shared copy beside this checkout is used when present, else the upstream repository.
SHARED_JAMENDO := $(abspath ../shared/data/jamendolyrics)
JAMENDO_UPSTREAM := https://raw.githubusercontent.com/f90/jamendolyrics/master
JAMENDO_SRC ?= $(if $(wildcard $(SHARED_JAMENDO)/JamendoLyrics.csv),$(SHARED_JAMENDO),$(JAMENDO_UPSTREAM))

# Which collection: DATASET_PATH=/any/folder (read only, never written; a folder of audio files, or one
# holding manifest.csv) or a manifest file; else data/raw/$(DATASET)/. The name defaults to the folder's.
DATA     ?= $(CURDIR)/data# raw -> interim -> processed (a test points it elsewhere)
DATASET_PATH ?=
ifneq ($(strip $(DATASET_PATH)),)
# through the shell: make's own path functions split paths at spaces ("My Music")
SOURCE   := $(shell realpath -m -- "$(DATASET_PATH)")
SOURCE_DIR := $(shell if [ -f "$(SOURCE)" ]; then dirname -- "$(SOURCE)"; else echo "$(SOURCE)"; fi)
DATASET  ?= $(shell basename -- "$(SOURCE_DIR)" | tr -c 'A-Za-z0-9._\n-' '_')
else
DATASET  ?= jamendolyrics
SOURCE   := $(DATA)/raw/$(DATASET)
endif
RESULTS  ?= $(CURDIR)/results
PROFILE  ?= full
LABELS   ?=# comma-separated label columns to score (default: every label-like column)
ALLOW_OUTSIDE ?= False# True lets manifest paths point outside the collection folder
SWEEP    ?=# 04's grid, a name in config.SWEEPS (default: the profile's; seed: the seed report's ConvVAE grid)
NB_OUT   := $(RESULTS)/notebooks
LISTING  := $(DATA)/interim/$(DATASET)/source.listing
RUN_STAMP := $(RESULTS)/.run
LIB_SRC  := $(shell find lib/songspace -name "*.py")
NOTEBOOKS := 00_data 01_features 02_mlp_vae 03_conv_vae 04_sweeps 05_clustering 06_report
PAPERMILL = $(BIN)/papermill -k python3 --cwd notebooks --log-output --no-progress-bar \
            -p dataset $(DATASET) -p data_root $(DATA) -p results_root $(RESULTS) -p profile $(PROFILE)
NBCONVERT = $(BIN)/jupyter nbconvert --to html --log-level WARN

export PYTHONHASHSEED := 0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: bench-quality all env lock data demo-data notebooks report demo test bench lab strip clean help chromium fonts FORCE

help:
	@echo "make all    - environment, data, every notebook, report (results/report.html, .pdf)"
	@echo "              DATASET_PATH=/your/music  any folder of audio files or with manifest.csv (read only)"
	@echo "              DATASET=name  a collection under data/raw/name/ (default jamendolyrics)"
	@echo "              RESULTS=dir  where results go (default results/); PROFILE=tiny for a quick look"
	@echo "              LABELS=genre,artist  label columns to score (default: every label-like column)"
	@echo "              SWEEP=seed  04 also sweeps the ConvVAE over the seed report's grid"
	@echo "make test   - the test suite"
	@echo "make demo   - whole pipeline on the synthetic dataset (results/demo/)"
	@echo "make bench  - speed and memory benchmarks (results/bench/)"
	@echo "              BENCH_COLLECTION=/labelled/music  also: clustering quality of every representation"
	@echo "              on that collection (results/bench/quality.csv)"
	@echo "make lab    - JupyterLab on the project"
	@echo "make strip  - strip outputs from notebooks/*.ipynb"
	@echo "make lock   - regenerate requirements.lock from pyproject.toml"
	@echo "make env    - only the .venv (TORCH_INDEX=<url> picks the torch build)"

# ---- environment: rebuilt only when the dependency files change ----
# Extras installed by `make env`: tests (dev), the Dask executor (dask), JupyterLab (lab).
EXTRAS ?= dev,dask,lab
# Where torch comes from. Empty: the default index (pip's configuration), which here gives the
# CPU wheel; elsewhere on Linux PyPI's torch is a CUDA build. Set, it is an extra index: its
# 2.x.y+cpu / +cuXXX build outranks PyPI's 2.x.y of the locked version. CPU-only anywhere:
#   make env TORCH_INDEX=https://download.pytorch.org/whl/cpu
# A given CUDA version: TORCH_INDEX=https://download.pytorch.org/whl/cu126 (say).
TORCH_INDEX ?=
TORCH_REQ = $(or $(shell grep -m1 -i '^torch==' requirements.lock),torch>=2.4,<3)

env: $(ENV_STAMP)
$(ENV_STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c requirements.lock $(if $(TORCH_INDEX),--extra-index-url $(TORCH_INDEX)) '$(TORCH_REQ)'
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[$(EXTRAS)]'
	$(BIN)/python -m pip install --quiet --no-deps musicnn==0.1.0
	@$(BIN)/python -c "import torch; print(f'torch {torch.__version__} (CUDA {torch.version.cuda or \"none: CPU build\"}) installed')"
	$(BIN)/python tools/warm.py
	-$(BIN)/nbstripout --install  # git filter: notebooks are committed without outputs
	touch $@

# requirements.lock: exact versions of everything `make env` installs (all extras), for this
# Python. Existing pins are kept as preferences; LOCK_FLAGS=--upgrade moves them all.
LOCK_FLAGS ?=
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet 'uv>=0.5'
	cp requirements.lock requirements.lock.part  # uv keeps the pins of an existing output file
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra dask --extra lab \
	    --python-version 3.11 --custom-compile-command 'make lock' --no-header $(LOCK_FLAGS) \
	    --output-file requirements.lock.part
	{ echo '# Exact versions verified together. Generated by `make lock` (uv pip compile pyproject.toml'; \
	  echo '# --extra dev --extra dask --extra lab, Python 3.11, Linux); do not edit by hand.'; \
	  echo '# Used as constraints by `make env` (pip install -c requirements.lock -e .[dev,dask,lab]).'; \
	  echo '# torch is pinned by version only: the build (CPU/CUDA) comes from TORCH_INDEX, see README.'; \
	  cat requirements.lock.part; } > requirements.lock
	rm -f requirements.lock.part

# ---- data ----
# The shipped corpus and the demo are made here; any other collection is only read. The listing
# stamp changes when a file of the collection (or its manifest) does, so 00 re-runs then and only then.
FETCHED := $(if $(strip $(DATASET_PATH)),,$(filter %/raw/jamendolyrics/.complete %/raw/demo/.complete,$(DATA)/raw/$(DATASET)/.complete))
data: $(LISTING)
$(LISTING): FORCE $(FETCHED) | $(ENV_STAMP)
	@mkdir -p $(@D)
	@$(BIN)/python -m songspace.data.collection stamp "$(SOURCE)" $@
$(DATA)/raw/jamendolyrics/.complete: | $(ENV_STAMP)
	$(BIN)/python -m songspace fetch --src "$(JAMENDO_SRC)" --dest $(DATA)/raw/jamendolyrics
$(DATA)/raw/demo/.complete: lib/songspace/data/synthetic.py | $(ENV_STAMP)
	$(BIN)/python -m songspace synth --out $(DATA)/raw/demo
demo-data: $(DATA)/raw/demo/.complete

# ---- notebooks: each executed copy depends on its source, the library and the stage before ----
# What the run is of: a change of dataset, source, profile or labels re-runs everything after it.
$(RUN_STAMP): FORCE | $(ENV_STAMP)
	@mkdir -p $(@D)
	@$(BIN)/python -c 'import sys; from songspace.data.collection import write_if_changed; write_if_changed(sys.argv[1], sys.argv[2])' \
	  $@ "dataset=$(DATASET) source=$(SOURCE) profile=$(PROFILE) labels=$(LABELS) allow_outside=$(ALLOW_OUTSIDE) sweep=$(SWEEP)"

$(NB_OUT)/00_data.ipynb: NB_PARAMS = -p source "$(SOURCE)" -p allow_outside $(ALLOW_OUTSIDE) -p label_columns "$(LABELS)"
$(NB_OUT)/04_sweeps.ipynb: NB_PARAMS = $(if $(strip $(SWEEP)),-p sweep $(SWEEP))
$(NB_OUT)/00_data.ipynb: notebooks/00_data.ipynb $(LISTING) $(RUN_STAMP) $(LIB_SRC) $(ENV_STAMP)
$(NB_OUT)/01_features.ipynb: notebooks/01_features.ipynb $(NB_OUT)/00_data.ipynb
$(NB_OUT)/02_mlp_vae.ipynb: notebooks/02_mlp_vae.ipynb $(NB_OUT)/01_features.ipynb
$(NB_OUT)/03_conv_vae.ipynb: notebooks/03_conv_vae.ipynb $(NB_OUT)/01_features.ipynb
$(NB_OUT)/04_sweeps.ipynb: notebooks/04_sweeps.ipynb $(NB_OUT)/02_mlp_vae.ipynb $(NB_OUT)/03_conv_vae.ipynb
$(NB_OUT)/05_clustering.ipynb: notebooks/05_clustering.ipynb $(NB_OUT)/04_sweeps.ipynb
$(NB_OUT)/06_report.ipynb: notebooks/06_report.ipynb $(NB_OUT)/05_clustering.ipynb

# A progress line per stage: what runs, on what (songs once 00 has listed them, else files), how long it took.
TRACKS_PQ = $(DATA)/interim/$(DATASET)/tracks.parquet
SIZE = $$(test -f $(TRACKS_PQ) && $(BIN)/python -c 'import sys, pyarrow.parquet as q; print(q.ParquetFile(sys.argv[1]).metadata.num_rows, "songs")' $(TRACKS_PQ) || echo "$$(grep -vc '^\#' $(LISTING)) files")
$(NB_OUT)/%.ipynb: | $(ENV_STAMP)
	@mkdir -p $(NB_OUT) && date +%s > $@.t0 && echo "[songspace $$(date +%T)] $* on $(DATASET) ($(SIZE), profile $(PROFILE)) ..."
	$(PAPERMILL) $(NB_PARAMS) notebooks/$*.ipynb $@.part.ipynb
	mv $@.part.ipynb $@
	@echo "[songspace $$(date +%T)] $* done in $$(( $$(date +%s) - $$(cat $@.t0) )) s" && rm -f $@.t0

# Every notebook executed by this run ($?) rendered to HTML in one nbconvert process: one start-up
# (~2.5 s) instead of one per notebook.
EXISTING := $(basename $(notdir $(wildcard notebooks/*.ipynb)))
EXECUTED := $(foreach n,$(filter $(EXISTING),$(NOTEBOOKS)),$(NB_OUT)/$(n).ipynb)
notebooks: $(NB_OUT)/.rendered
$(NB_OUT)/.rendered: $(EXECUTED)
	$(NBCONVERT) $? --output-dir $(NB_OUT)
	@touch $@

# Debian's chromium prints the PDF (and the tests' screenshots); installed only when missing.
chromium:
	bash scripts/install_chromium.sh
	command -v pdftoppm >/dev/null || bash scripts/apt_install.sh poppler-utils  # the report tests look at PDF pages

# A CJK/Hangul font for song names in those scripts (figures and PDF); optional: without it they show as boxes.
fonts:
	-@bash scripts/install_fonts.sh

# Without chromium (no root, no apt) the HTML report is still written and the PDF step says what is missing.
report: $(RESULTS)/report.html
$(RESULTS)/report.html: $(NB_OUT)/06_report.ipynb
	-bash scripts/install_chromium.sh
	$(BIN)/python -m songspace report --executed $< --out-dir $(RESULTS) --pdf-optional

all: env fonts data notebooks $(if $(filter 06_report,$(EXISTING)),report)

demo:
	$(MAKE) all DATASET=demo RESULTS=$(CURDIR)/results/demo PROFILE=tiny

# ---- checks ----
test: $(ENV_STAMP) chromium fonts
	$(BIN)/python -m pytest -q -n 2 --dist loadgroup

# BENCH_E2E_SONGS=60,1000 sizes of the end-to-end section; BENCH_E2E_PROFILE=full its profile;
# BENCH_ONLY=chance,e2e a subset of sections.
BENCH_ONLY ?=
bench: $(ENV_STAMP)
	BENCH_E2E_SONGS="$(BENCH_E2E_SONGS)" BENCH_E2E_PROFILE="$(BENCH_E2E_PROFILE)" \
	  $(BIN)/python tools/bench.py --out results/bench $(if $(BENCH_ONLY),--only $(BENCH_ONLY)) \
	  --publish docs/benchmarks.md --command "make bench$(if $(BENCH_ONLY), BENCH_ONLY=$(BENCH_ONLY))$(if $(BENCH_E2E_SONGS), BENCH_E2E_SONGS=$(BENCH_E2E_SONGS))$(if $(BENCH_E2E_PROFILE), BENCH_E2E_PROFILE=$(BENCH_E2E_PROFILE))"

# Real-data quality: the whole pipeline on a collection the user names, its table in quality.csv.
BENCH_COLLECTION ?=
bench: $(if $(strip $(BENCH_COLLECTION)),bench-quality)
# A cold run (its own DATA and RESULTS, emptied first), so quality_times.csv is what a first `make all`
# on the collection costs, stage by stage; the collection itself is only read.
QUALITY_RUN  := $(CURDIR)/results/bench/quality_run
QUALITY_DATA := $(CURDIR)/results/bench/quality_data
bench-quality: $(ENV_STAMP)
	rm -rf "$(QUALITY_RUN)" "$(QUALITY_DATA)"
	t0=$$(date +%s) && $(MAKE) all DATASET_PATH="$(BENCH_COLLECTION)" DATA="$(QUALITY_DATA)" RESULTS="$(QUALITY_RUN)" && \
	  $(BIN)/python -m songspace.evaluation.quality "$(QUALITY_RUN)" results/bench/quality.csv \
	    --times-csv results/bench/quality_times.csv --wall-seconds $$(( $$(date +%s) - t0 ))

# Root (containers, this machine) needs --allow-root; the [lab] extra is installed when missing.
lab: $(ENV_STAMP)
	test -x $(BIN)/jupyter-lab || $(BIN)/python -m pip install --quiet -c requirements.lock -e '.[lab]'
	$(BIN)/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root)

strip: $(ENV_STAMP)
	$(BIN)/nbstripout notebooks/*.ipynb

clean:
	rm -rf results/* data/interim/* data/processed/*
