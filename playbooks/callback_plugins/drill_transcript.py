"""Print the restore drill's transcript lines as DESIGN.md shows them, naming the host.

The restore_drill role announces each step with a debug task ("Using backup: ...",
"Cards: 1234", "---- RESTORE DRILL PASSED ----"); the default stdout callback shows
those wrapped as `"msg": "..."`. This notification callback, loaded from beside the
playbooks and enabled by itself, echoes every debug message of that role as a bare line
after the name of the host it is about, so on a fleet every line says which host it is:

    [db1] Cards: 1234
    [db2] ---- RESTORE DRILL FAILED ----
    [fleet] db2: FAILED at data: ...

Messages of run-once tasks (the drill summary of every host) carry `[fleet]`.
"""

from __future__ import annotations

from typing import Any

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: drill_transcript
    type: notification
    short_description: echo the restore drill's transcript lines verbatim
    description:
      - Prints the debug messages of the restore_drill role as plain lines.
"""

TRANSCRIPT_ROLE = "restore_drill"


class CallbackModule(CallbackBase):  # type: ignore[misc]
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "drill_transcript"
    CALLBACK_NEEDS_ENABLED = False

    def v2_runner_on_ok(self, result: Any) -> None:
        task = result._task
        role = getattr(task, "_role", None)
        if task.action not in ("debug", "ansible.builtin.debug", "ansible.legacy.debug"):
            return
        if role is None or role.get_name() != TRANSCRIPT_ROLE:
            return
        message = result._result.get("msg")
        lines = message if isinstance(message, list) else [message]
        prefix = "fleet" if task.run_once else result._host.get_name()
        for line in lines:
            if isinstance(line, str) and line:
                self._display.display(f"[{prefix}] {line}")
