"""What the pg_client role's modules share: the connection options, one connection made
with the host's psycopg (3) or psycopg2, quoted identifiers, and the message when neither
driver is there. Runs on the managed host (bundled into each module by Ansible)."""

from __future__ import annotations

CONNECTION_ARGUMENTS: dict[str, dict[str, object]] = {
    "host": {"type": "str", "required": True},
    "port": {"type": "int", "default": 5432},
    "user": {"type": "str", "required": True},
    "password": {"type": "str", "default": "", "no_log": True},
    "dbname": {"type": "str", "required": True},
    "sslmode": {"type": "str", "default": "prefer"},
    "application_name": {"type": "str", "default": "readiness-harness"},
    "connect_timeout": {"type": "int", "default": 10},
}
"""The argument_spec entries of a connection (the modules add their own options)."""

NO_DRIVER = (
    "the host's Python has neither psycopg nor psycopg2: install python3-psycopg2 "
    "(Debian/Ubuntu) or `pip install psycopg[binary]` into the ansible_python_interpreter"
)


def connection_arguments(**options: dict[str, object]) -> dict[str, dict[str, object]]:
    """A module's argument_spec: the connection's options and the module's own."""
    return {**{name: dict(spec) for name, spec in CONNECTION_ARGUMENTS.items()}, **options}


def connect(params: dict[str, object]) -> object:
    """An autocommit connection (transactions are opened explicitly, with their isolation
    level). ImportError when the host has neither driver: fail with NO_DRIVER."""
    kwargs = {name: params[name] for name in CONNECTION_ARGUMENTS if name != "password"}
    if params["password"]:
        kwargs["password"] = params["password"]
    try:
        import psycopg
    except ImportError:
        import psycopg2

        conn = psycopg2.connect(**kwargs)
        conn.autocommit = True
        return conn
    return psycopg.connect(autocommit=True, **kwargs)


def identifier(name: str) -> str:
    """A PostgreSQL identifier, quoted (never interpolated raw)."""
    return '"' + name.replace('"', '""') + '"'
