# The two set-up commands of the README: `make report` (the sample network's reports) and
# `make test` (the test suite). Each creates the virtualenv and installs what it needs.
# `make lab` starts JupyterLab on the project for interactive work.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SAMPLE := data/sample
OUT    := reports/sample

.PHONY: report test lab sample install fonts lint clean

report: install fonts $(SAMPLE)/dealers.parquet
	$(BIN)/crm-analytics report --source $(SAMPLE) --all --out $(OUT)

test: install fonts
	$(BIN)/python -m pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[test,dask,lab]"
	touch $(STAMP)

# A CJK font for Chinese chart labels (Debian's fonts-wqy-microhei, 5 MB). Where it cannot be
# installed, charts fall back to English labels with a warning.
fonts:
	@fc-list 2>/dev/null | grep -qi "wenquanyi\|wqy" && exit 0; \
	if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei fontconfig >/dev/null) \
	  || echo "note: could not install a CJK font; Chinese labels fall back to English"; \
	else echo "note: no root/apt-get; Chinese labels fall back to English"; fi

# JupyterLab on the project (the lab extra is installed with the others above): jupytext pairs
# the notebooks (jupytext.toml), .py notebooks open as notebooks on double-click
# (jupyter/overrides.json, JupyterLab's documented per-environment settings file), loopback
# only, no browser; it prints the URL with its token. --allow-root: containers run as root.
LAB_PORT ?= 8888
lab: install fonts $(SAMPLE)/dealers.parquet
	install -D -m 644 jupyter/overrides.json $(VENV)/share/jupyter/lab/settings/overrides.json
	@echo "JupyterLab: open the http://127.0.0.1:$(LAB_PORT)/lab?token=... URL printed below"
	$(BIN)/jupyter lab --ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) \
	  --ServerApp.open_browser=False --ServerApp.allow_root=True \
	  --ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/notebooks/dealer_report.py

sample: $(SAMPLE)/dealers.parquet

# generated again (whole) when the simulator changed since, so a checkout never reports on a
# stale sample (one made before the simulator wrote external lists left their notes unmet)
$(SAMPLE)/dealers.parquet: $(wildcard crm_analytics/sim/*.py) | $(STAMP)
	rm -rf $(SAMPLE)
	$(BIN)/crm-analytics generate --out $(SAMPLE)

lint: install
	$(BIN)/ruff check crm_analytics tests bench
	$(BIN)/ruff format --check crm_analytics tests bench

clean:
	rm -rf $(VENV) $(SAMPLE) reports
