# Two entry points for a fresh machine (python3 >= 3.11 and pip, nothing else):
#   make readiness   run the readiness checklist on the embedded default
#   make test        run the harness's own tests (lint, types, unit, service, plugin, roles)
# Both bootstrap .venv from the pinned constraints and are safe to rerun.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: readiness test lint typecheck drill serve report clean help

help:
	@echo "make readiness  - readiness check on the embedded PostgreSQL/Redis and reference service"
	@echo "make test       - lint, type check and the full test suite"
	@echo "make drill      - take a backup and run the restore drill on the embedded default"
	@echo "make serve      - run the reference service on the embedded default (Ctrl-C stops)"

# promtool (alert rule tests) comes from Debian's `prometheus` package. Only the binary
# is extracted into the venv: installing the package would also create and start a
# Prometheus server. `apt-get update` runs only when the package lists lack it (root).
PROMTOOL := $(BIN)/promtool
$(PROMTOOL): | $(STAMP)
	@set -e; if command -v promtool >/dev/null 2>&1; then ln -sf "$$(command -v promtool)" $@; exit 0; fi; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if ! (cd "$$tmp" && apt-get download prometheus >/dev/null 2>&1); then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq >/dev/null && (cd "$$tmp" && apt-get download prometheus >/dev/null); \
	  else echo "promtool is needed for the alert rule tests: apt-get install prometheus (or put promtool on PATH)" >&2; exit 1; fi; \
	fi; \
	dpkg-deb --fsys-tarfile "$$tmp"/prometheus_*.deb | tar -x -C "$$tmp" ./usr/bin/promtool; \
	install -m 0755 "$$tmp/usr/bin/promtool" $@; echo "installed $@ from Debian's prometheus package"

# sshd for the namespace fleet tests (tests/fleet): only the binary and the one library
# Debian's build needs (libwrap0) are extracted from Debian's packages into the venv;
# installing openssh-server would also create and start a system ssh service.
SSHD_DIR := $(VENV)/opt/openssh
SSHD := $(SSHD_DIR)/usr/sbin/sshd
$(SSHD): | $(STAMP)
	@set -e; tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if ! (cd "$$tmp" && apt-get download openssh-server libwrap0 >/dev/null 2>&1); then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq >/dev/null && (cd "$$tmp" && apt-get download openssh-server libwrap0 >/dev/null); \
	  else echo "sshd for the fleet tests: apt-get download needs the package lists (run as root once); the tests skip without it" >&2; exit 0; fi; \
	fi; \
	mkdir -p $(SSHD_DIR); \
	dpkg-deb --fsys-tarfile "$$tmp"/openssh-server_*.deb | tar -x -C $(SSHD_DIR) ./usr/sbin/sshd; \
	dpkg-deb --fsys-tarfile "$$tmp"/libwrap0_*.deb | tar -x -C $(SSHD_DIR) --wildcards './usr/lib/*/libwrap.so.0*'; \
	echo "installed $@ from Debian's openssh-server package"

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The verdict's exit code wins, but the HTML report is built either way (CI publishes it).
readiness: $(STAMP) $(PROMTOOL)
	@status=0; $(BIN)/readiness check || status=$$?; \
	$(BIN)/readiness report || { [ $$status -ne 0 ] || status=$$?; }; \
	exit $$status

report: $(STAMP)
	$(BIN)/readiness report

drill: $(STAMP)
	$(BIN)/readiness drill

serve: $(STAMP)
	$(BIN)/readiness serve

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production playbooks roles
	$(BIN)/bandit -q -c pyproject.toml -r plugins steps reference_service

typecheck: $(STAMP)
	$(BIN)/mypy

# Tests never write into reports/ (it belongs to `make readiness`): their evidence goes to
# a temporary folder removed afterwards.
test: lint typecheck $(PROMTOOL) $(SSHD)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; READINESS_REPORTS_DIR="$$tmp" $(BIN)/pytest

clean:
	rm -rf $(VENV) reports allure-results allure-report readiness.json readiness-summary.md
