"""The target: the deployment a run judges, and how the harness reaches it. The embedded
default (real PostgreSQL and Redis, the reference service) is started here; a deployed
target is only ever addressed by what the run was given. May import settings/, gateways/ and
monitoring.error_sink (the sink the embedded service reports unhandled errors to)."""
