# vpsrescue: the two commands a new user needs are `make demo` and `make test`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
FAB   := $(VENV)/bin/fab
STAMP := $(VENV)/.installed
# sha256 of the vendor PHP files triage need not judge (vpsrescue/triage/phpscan/knowngood.py)
KNOWN_GOOD := /var/cache/vpsrescue/known-good-php.sha256

.PHONY: setup test demo lint unit clean-lab known-good

setup: $(STAMP)
	@bash scripts/setup-system.sh
	@$(MAKE) --no-print-directory known-good || echo "known-good set not built: triage \
	judges every file (slower); run 'make known-good' when the Debian archive is reachable." >&2

# Debian's WordPress core and themes of bullseye, bookworm and trixie, fetched once
known-good: $(KNOWN_GOOD)

$(KNOWN_GOOD): vpsrescue/triage/phpscan/knowngood.py
	$(PY) -m vpsrescue.triage.phpscan.knowngood $@

$(STAMP): pyproject.toml setup.py constraints.txt vpsrescue/dump/_scan.c
	@command -v python3 >/dev/null || { echo "python3 (>= 3.11) is required: install it first." >&2; exit 1; }
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $@

test: setup
	$(VENV)/bin/pytest -q

unit: setup
	$(VENV)/bin/pytest -q -m unit

lint: setup
	$(VENV)/bin/ruff check vpsrescue tests tasks.py fabfile.py bench
	$(VENV)/bin/mypy vpsrescue

demo: setup
	$(FAB) lab.up
	$(FAB) lab.status
	$(FAB) rescue
	$(FAB) restore
	$(FAB) verify
	@echo
	@echo "The old disk was rescued into bundles/ (triaged: bundles/<bundle>/triage/report.md),"
	@echo "and its two sites restored onto lab-vps (198.51.100.6) and verified."
	@echo "See them:          curl -H 'Host: blog.example.org' http://198.51.100.6/"
	@echo "                   (or add '198.51.100.6 blog.example.org news.example.net' to /etc/hosts)"
	@echo "New credentials:   bundles/<bundle>/restore/secrets.json (mode 0600)"
	@echo "Look around:       .venv/bin/fab lab.ssh lab-vps   (or lab-rescue)"
	@echo "Tear the lab down: .venv/bin/fab lab.down"

clean-lab: setup
	$(FAB) lab.down
