"""One router per resource: webhooks, admin reads, health/status/metrics."""
