#!/usr/bin/python
"""Ansible module: which Python modules the roles need are missing from the host's Python.

The community.postgresql and community.general.redis_* modules, and this project's own,
import psycopg (or psycopg2) and redis on the managed host. Without them every task fails
with a message about the server; this module names what is missing instead.
"""

from __future__ import annotations

import importlib.util
import sys

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: readiness_python_prerequisites
short_description: Report which of the given Python modules the host's interpreter lacks
options:
  modules:
    type: list
    elements: list
    required: true
    description: Each entry is a list of alternatives, any one of which satisfies it.
author: Readiness harness maintainers
"""

RETURN = r"""
missing: {description: Entries none of whose alternatives import, returned: always, type: list}
interpreter: {description: sys.executable on the host, returned: always, type: str}
python_version: {description: The interpreter's version, returned: always, type: str}
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={"modules": {"type": "list", "elements": "list", "required": True}},
        supports_check_mode=True,
    )
    missing = [
        " or ".join(alternatives)
        for alternatives in module.params["modules"]
        if not any(importlib.util.find_spec(str(name)) for name in alternatives)
    ]
    module.exit_json(
        changed=False,
        missing=missing,
        interpreter=sys.executable,
        python_version=".".join(str(part) for part in sys.version_info[:3]),
    )


if __name__ == "__main__":
    main()
