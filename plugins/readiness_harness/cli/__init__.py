"""The `readiness` command: serve, check, drill, report. Prints by design; the only room
that does. May import every other room."""
