"""Readiness harness: pytest plugin, embedded servers, readiness report and CLI."""
