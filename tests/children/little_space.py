"""The first run's export child on a disk with almost no free space.

``run_export`` is ``pegasus_desktop.export_child.run_export`` with ``engine.files.free_space``
(what the child's free-space check calls) answering ``FREE`` bytes. A test puts it in place of
the real target, so the spawned process runs the real check and the real messages.
"""

from __future__ import annotations

FREE = 1_000


def run_export(model_id: str, root: str, precision: str, conn) -> None:
    from engine import files
    from pegasus_desktop import export_child

    files.free_space = lambda folder: FREE
    export_child.run_export(model_id, root, precision, conn)
