"""pytest-bdd step definitions for the readiness checklist, one module per area."""
