# advstudy: `make reproduce` and `make test` do all the setup on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
# The torch/torchvision pair installed first; override for another platform, e.g. TORCH="torch==2.9.1 torchvision==0.24.1".
TORCH  ?= torch==2.14.1 torchvision==0.29.1
PROFILE ?= quick
ONLY    ?=
ONLY_ARG := $(if $(ONLY),--only $(ONLY),)
FMNIST_SYS := /usr/share/datasets/fashion-mnist

.PHONY: install data browser test check-clean lint nbtest pytest reproduce smoke clean help
help:
	@echo "make reproduce   # set up, then regenerate every report (quick profile) into reports/"
	@echo "                 # PROFILE=smoke|quick|paper, ONLY='fgsm_bim benchmarks' to pick studies"
	@echo "make test        # set up, then check the export is clean, lint (ruff), run notebook tests and pytest"

$(BIN)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[dev]"
	$(PY) -m pip install -q --no-deps "torchattacks==3.5.1"
	touch $@

install: $(BIN)/.installed

# Fashion-MNIST: data/fashion-mnist, then Debian's dataset-fashion-mnist (installed here when we are root with apt),
# then a torchvision download. CIFAR-10 is fetched by torchvision on first use where the internet is reachable.
data: install
	@if [ -d data/fashion-mnist ] || [ -d $(FMNIST_SYS) ]; then echo "Fashion-MNIST: found"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Fashion-MNIST: installing Debian's dataset-fashion-mnist"; \
	  (apt-get install -y -qq -o DPkg::Lock::Timeout=300 dataset-fashion-mnist >/dev/null 2>&1 || (apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null && apt-get install -y -qq -o DPkg::Lock::Timeout=300 dataset-fashion-mnist >/dev/null)) \
	    || echo "Fashion-MNIST: apt-get failed; trying a download"; fi
	@$(PY) -c "from advstudy.data import load_fashion_mnist as f; d = f(False); print('Fashion-MNIST test set:', d)" \
	  || { echo "Fashion-MNIST is missing: 'sudo apt-get install dataset-fashion-mnist', or copy the *-ubyte.gz files into data/fashion-mnist/"; exit 1; }

# nbdev-export and nbdev-clean must leave the tree as it is: notebooks are the source, advstudy/ is generated.
check-clean: install
	@before="$$(git status --porcelain 2>/dev/null)"; \
	$(BIN)/nbdev-export && $(BIN)/nbdev-clean; \
	after="$$(git status --porcelain 2>/dev/null)"; \
	if [ "$$before" != "$$after" ]; then echo "nbdev-export/nbdev-clean changed the tree (edit the notebooks, export, clean, commit):"; \
	  git status --porcelain; exit 1; fi; echo "nbdev-export and nbdev-clean leave the tree unchanged"

# ruff (pyflakes and line length; settings in pyproject.toml) over the package, the notebooks and the tests.
lint: install
	$(BIN)/ruff check advstudy nbs tests

nbtest: install
	$(BIN)/nbdev-test --n-workers 2

# Headless Chromium renders reports/index.html in a test; installed here when we are root with apt, else that test skips.
browser:
	@if ! command -v chromium >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "chromium: installing Debian's chromium for the index's browser check"; \
	  apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium >/dev/null 2>&1 \
	    || (apt-get update -qq -o DPkg::Lock::Timeout=300 >/dev/null && \
	        apt-get install -y -qq -o DPkg::Lock::Timeout=300 chromium >/dev/null 2>&1) \
	    || echo "chromium: not installed; the browser check of the index skips"; fi

# the slowest tests are listed at the end
pytest: install data browser
	$(BIN)/python -m pytest -q --durations=25 tests

test: check-clean lint data nbtest pytest

reproduce: install data
	$(BIN)/advstudy reproduce --profile $(PROFILE) $(ONLY_ARG)

smoke: install data
	$(BIN)/advstudy reproduce --profile smoke --reports /tmp/advstudy-smoke-reports

clean:
	rm -rf $(VENV) data/cache
