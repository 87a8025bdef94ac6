"""The helpers both layers share: the atomic writer, free space, sizes for people (engine/files.py)
and the room an export needs (engine/export/space.py)."""

from __future__ import annotations

import errno
import os
import shutil
import stat
from pathlib import Path

import pytest

from engine import files
from engine.export.space import FP32_COPY, INT8_COPY, checkpoint_weights_bytes, export_bytes_needed
from engine.files import free_space, human_duration, human_size, three_figures, write_atomically
from engine.model_dir import export_dir


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_write_atomically_writes_the_text_as_given(tmp_path):
    path = tmp_path / "out.txt"
    write_atomically(path, "héllo\r\nwörld\n")
    assert path.read_bytes() == "héllo\r\nwörld\n".encode()  # UTF-8, no newline translation
    write_atomically(path, "second")
    assert path.read_bytes() == b"second"
    assert _names(tmp_path) == ["out.txt"]


def test_a_failed_write_leaves_the_old_file_intact(tmp_path):
    path = tmp_path / "summary.txt"
    path.write_text("the old summary\n")
    with pytest.raises(UnicodeEncodeError):  # fails halfway through writing the new text
        write_atomically(path, "a new start, then a lone surrogate \ud800")
    assert path.read_text() == "the old summary\n"
    assert _names(tmp_path) == ["summary.txt"]  # no temporary file left behind


def test_a_full_disk_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "settings.json"
    path.write_text("{}")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, '{"model_id": "x"}')
    assert path.read_text() == "{}"
    assert _names(tmp_path) == ["settings.json"]


def test_a_missing_folder_is_an_error_and_creates_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomically(tmp_path / "missing" / "x.txt", "text")
    assert _names(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file permissions and links")
def test_permissions_are_the_users_default_and_a_private_file_stays_private(tmp_path):
    path = tmp_path / "out.txt"
    old = os.umask(0o022)
    try:
        write_atomically(path, "new")
        assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600
        path.chmod(0o600)
        write_atomically(path, "private")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


@pytest.mark.skipif(os.name != "posix", reason="symbolic links")
def test_a_link_is_followed_and_stays_a_link(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    write_atomically(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_free_space_asks_the_nearest_existing_folder(tmp_path, monkeypatch):
    asked = []

    def usage(folder):
        asked.append(Path(folder))
        return shutil._ntuple_diskusage(100, 40, 60)

    monkeypatch.setattr(shutil, "disk_usage", usage)
    assert free_space(tmp_path / "not" / "made" / "yet") == 60
    assert asked == [tmp_path]


def test_free_space_is_none_when_the_system_cannot_say(tmp_path, monkeypatch):
    def denied(folder):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(shutil, "disk_usage", denied)
    assert free_space(tmp_path) is None


def test_free_space_of_a_real_folder():
    free = free_space(Path.cwd())
    assert isinstance(free, int) and free > 0


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (999, "999 bytes"),
        (1000, "1.0 KB"),
        (1500, "1.5 KB"),  # one decimal from KB up, in every unit alike
        (999_960, "1.0 MB"),  # never "1000.0 KB"
        (1_234_567, "1.2 MB"),
        (2_285_000_000, "2.3 GB"),
        (1_500_000_000_000, "1.5 TB"),
        (2_000_000_000_000_000, "2,000.0 TB"),
    ],
)
def test_human_size(size, text):
    assert human_size(size) == text


def test_sizes_are_formatted_in_one_place():
    """No other module defines its own size formatting; the app's pages use the engine's."""
    from pathlib import Path

    import engine
    import pegasus_desktop
    from pegasus_desktop import first_run, model_manager

    assert first_run.human_size is files.human_size and model_manager.human_size is files.human_size
    defined = [
        str(path) for package in (engine, pegasus_desktop)
        for path in Path(package.__file__).parent.rglob("*.py")
        if path.name != "files.py" and any(f"def {name}(" in path.read_text(encoding="utf-8")
                                           for name in ("human_size", "human_bytes"))
    ]
    assert defined == []


def test_export_estimate_counts_the_copies_on_disk_at_once():
    gb = 1_000_000_000
    assert export_bytes_needed(2 * gb, "fp32") == 2.1 * gb  # the fp32 copy
    assert export_bytes_needed(2 * gb, "int8") == 2.7 * gb  # the fp32 copy, then the int8 one beside it
    assert export_bytes_needed(2 * gb) == export_bytes_needed(2 * gb, "int8")
    assert export_bytes_needed(2 * gb, "int8", download=True) == 4.7 * gb  # and the download
    with pytest.raises(ValueError, match="'int8' or 'fp32'"):
        export_bytes_needed(gb, "fp16")


def test_checkpoint_weights_are_the_files_the_export_reads(tmp_path):
    assert checkpoint_weights_bytes(tmp_path) == 0
    (tmp_path / "training_args.bin").write_bytes(b"x" * 7)  # not weights
    (tmp_path / "pytorch_model.bin").write_bytes(b"x" * 300)
    assert checkpoint_weights_bytes(tmp_path) == 300
    (tmp_path / "model.safetensors").write_bytes(b"x" * 200)
    assert checkpoint_weights_bytes(tmp_path) == 200  # safetensors when there are some, never both


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_the_estimates_factors_cover_what_an_export_writes(trained_exports, precision):
    from builders import TINY_PEGASUS

    weights = checkpoint_weights_bytes(TINY_PEGASUS)
    written = (export_dir(str(TINY_PEGASUS), precision, trained_exports) / "weights.bin").stat().st_size
    assert written <= (FP32_COPY if precision == "fp32" else INT8_COPY) * weights


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.0, "0 ms"),
        (0.023, "23 ms"),  # a small model's summary does not read "0.0 s"
        (0.0999, "0.10 s"),  # never "100 ms"
        (0.83, "0.83 s"),
        (1.547, "1.55 s"),  # a Fast and a Best time a few hundredths apart stay apart
        (9.996, "10.0 s"),  # never "10.00 s"
        (12.34, "12.3 s"),
        (99.96, "100 s"),
        (4000, "4,000 s"),
    ],
)
def test_human_duration(seconds, text):
    assert human_duration(seconds) == text


@pytest.mark.parametrize(
    ("per_second", "text"),
    [(463.7, "464"), (12.34, "12.3"), (3.456, "3.46"), (9.996, "10.0"), (99.96, "100"), (12345.6, "12,346")],
)
def test_three_figures(per_second, text):
    assert three_figures(per_second) == text
