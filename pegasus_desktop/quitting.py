"""Quitting while work is under way: say what would stop, and let the user keep working.

``work_in_progress`` lists, in plain words, what quitting now would interrupt (a summary being
written, a batch running). ``confirm_quit`` asks; Keep working is the default button, so a stray
Enter never throws work away. Finished summaries are already in History, so nothing else asks,
unless History could not be opened: then finished batch summaries would be lost, and it asks.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget


def work_in_progress(summarizing: bool, batch_counts: dict[str, int] | None, *,
                     unstored_summaries: int = 0) -> list[str]:
    """``batch_counts``: the queue's counts by status when a batch is running, else None.
    ``unstored_summaries``: batch summaries kept nowhere but in this window (History could not be
    opened), which quitting would lose."""
    reasons = []
    if summarizing:
        reasons.append("A summary is being written; it would be lost.")
    if batch_counts is not None:
        from pegasus_desktop.batch import DONE, FAILED, QUEUED, RUNNING

        done = batch_counts[DONE] + batch_counts[FAILED]
        left = batch_counts[QUEUED] + batch_counts[RUNNING]
        kept = "are kept in History" if not unstored_summaries else "would be lost (see below)"
        reasons.append(
            f"The batch is running ({done} done, {left} to go). The summaries made so far {kept}, "
            f"and the files left stay queued for the next start."
        )
    if unstored_summaries:
        reasons.append(
            f"{unstored_summaries} batch {'summary is' if unstored_summaries == 1 else 'summaries are'} "
            f"not stored anywhere, because History could not be opened. Use Batch → Export all… "
            f"to keep {'it' if unstored_summaries == 1 else 'them'}."
        )
    return reasons


def confirm_quit(parent: QWidget, reasons: list[str]) -> bool:
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Quit now?")
    box.setText("Quit while work is under way?")
    box.setInformativeText("\n\n".join(reasons))
    quit_button = box.addButton("Quit", QMessageBox.ButtonRole.DestructiveRole)
    keep = box.addButton("Keep working", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(keep)
    box.setEscapeButton(keep)
    box.exec()
    return box.clickedButton() is quit_button
