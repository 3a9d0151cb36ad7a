"""Monitoring evidence: alert rule files checked and unit tested with promtool. May import
settings/."""
