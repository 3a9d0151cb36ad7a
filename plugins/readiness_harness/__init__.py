"""Readiness harness: the production-readiness checklist as a pytest plugin and a CLI.

The rooms, each a subpackage with one job:
  settings/    options (flag, ini key, environment) resolved once; secrets that never print
  checklist/   the feature files as checklist lines: collection, markers, per-example outcomes
  target/      what is under test and how the harness reaches it: embedded servers, stacks, TLS
  gateways/    payment events as each gateway signs them, and the HTTP clients that send them
  report/      line states, waivers and sign-offs, the verdict, Markdown and Allure evidence
  drill/       the Ansible backup and restore-drill playbooks, run and read back, per host
  fleet/       the hosts those lines run on: an Ansible inventory, or this machine
  monitoring/  alert rules (promtool) and the monitoring lines' evidence
  cli/         the `readiness` command

`plugin.py` only wires pytest's hooks and fixtures to these rooms.
"""
