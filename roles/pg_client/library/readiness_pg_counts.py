#!/usr/bin/python
"""Ansible module: the row count of every table of a database, in one snapshot; and,
optionally, one more read-only query and a write check rolled back.

Runs on the managed host with the host's psycopg (3) or psycopg2. Tables are those of
pg_class (ordinary and partitioned) outside the system schemas, named `schema.table` as
the backup manifest names them; identifiers are quoted, never interpolated raw. The
write check runs the given statements between BEGIN and ROLLBACK, so nothing persists.
One connection does all three, which saves the drill two module runs.
"""

from __future__ import annotations

from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.readiness_pg import NO_DRIVER, connect, connection_arguments, identifier

DOCUMENTATION = r"""
module: readiness_pg_counts
short_description: Row counts of every table of a PostgreSQL database, in one snapshot
options:
  host: {type: str, required: true, description: Server host name, address or socket folder.}
  port: {type: int, default: 5432, description: Server port.}
  user: {type: str, required: true, description: Role to connect as.}
  password: {type: str, default: "", no_log: true, description: Password (empty for none).}
  dbname: {type: str, required: true, description: Database whose tables are counted.}
  sslmode: {type: str, default: prefer, description: libpq sslmode.}
  application_name: {type: str, default: readiness-harness, description: application_name.}
  connect_timeout: {type: int, default: 10, description: Seconds to wait for the server.}
  query: {type: str, default: "", description: A read-only query whose first row is returned as `row`.}
  write_statements: {type: list, elements: str, default: [], description: Run between BEGIN and ROLLBACK.}
author: Readiness harness maintainers
"""

RETURN = r"""
table_counts: {description: schema.table -> rows, returned: success, type: dict}
"""

TABLES = (
    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
    " WHERE c.relkind IN ('r', 'p') AND n.nspname <> 'information_schema'"
    " AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2"
)


def counts(params: dict[str, object]) -> dict[str, object]:
    conn: Any = connect(params)
    try:
        cursor = conn.cursor()
        cursor.execute("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        cursor.execute(TABLES)
        result: dict[str, int] = {}
        for schema, name in cursor.fetchall():
            cursor.execute(f"SELECT count(*) FROM {identifier(schema)}.{identifier(name)}")  # noqa: S608 - quoted identifiers from pg_class
            result[f"{schema}.{name}"] = int(cursor.fetchone()[0])
        row = None
        if params["query"]:
            cursor.execute(params["query"])
            names = [column[0] for column in cursor.description]
            values = cursor.fetchone()
            row = dict(zip(names, values)) if values is not None else None
        cursor.execute("ROLLBACK")
        write: dict[str, object] = {"ran": False, "ok": None, "error": None}
        if params["write_statements"]:
            write["ran"] = True
            cursor.execute("BEGIN")
            try:
                for statement in params["write_statements"]:
                    cursor.execute(statement)
                write["ok"] = True
            except Exception as exc:  # reported: the role's assertion explains it
                write["ok"] = False
                write["error"] = str(exc).strip()
            finally:
                cursor.execute("ROLLBACK")
        return {"table_counts": result, "row": row, "write": write}
    finally:
        conn.close()


def main() -> None:
    module = AnsibleModule(
        argument_spec=connection_arguments(
            query={"type": "str", "default": ""},
            write_statements={"type": "list", "elements": "str", "default": []},
        ),
        supports_check_mode=True,
    )
    try:
        module.exit_json(changed=False, **counts(module.params))
    except ImportError:
        module.fail_json(msg=NO_DRIVER)
    except Exception as exc:
        module.fail_json(msg=f"{type(exc).__name__}: {str(exc).strip()}")


if __name__ == "__main__":
    main()
