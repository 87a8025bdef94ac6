"""Run in a spawned process by tests/test_torch_free_export.py: the app's export child, then
which modules it imported (what a user's first run would load)."""

from __future__ import annotations

import sys


def export_and_report_modules(model_id: str, root: str, precision: str, conn, modules_conn) -> None:
    from pegasus_desktop.export_child import run_export

    run_export(model_id, root, precision, conn)
    modules_conn.send(sorted(sys.modules))
    modules_conn.close()
