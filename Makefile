# The two commands of the README. Each sets up .venv itself, idempotently, then does its job.
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: bench test
bench: $(STAMP)
	$(PY) -m bench run --criteria all $(ARGS)

# pytest exits 5 when it collects no tests: that is not a failure; any other non-zero exit is.
test: $(STAMP)
	$(PY) -m pytest $(ARGS) || [ $$? -eq 5 ]

# torch 2.13.0 first: it comes from a local CPU build; a bare `torch` would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)
