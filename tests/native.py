"""Tiny real shared libraries built with gcc, for tests of what the dynamic loader finds."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def gcc(*args: str) -> None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    assert compiler, "a C compiler is needed to build the test's shared libraries (gcc)"
    subprocess.run([compiler, *args], check=True, capture_output=True, timeout=120)


def shared_library(path: Path, *, needs: tuple[Path, ...] = (), rpath: Path | None = None) -> Path:
    """Build ``path`` (its soname is its file name), linked against the libraries ``needs``,
    each of which it calls, so that each is a DT_NEEDED entry the loader must find."""
    path.parent.mkdir(parents=True, exist_ok=True)
    symbol = "f_" + "".join(c if c.isalnum() else "_" for c in path.name)
    calls = [f"f_{''.join(c if c.isalnum() else '_' for c in lib.name)}" for lib in needs]
    source = path.with_name(path.name + ".c")
    source.write_text(
        "".join(f"int {call}(void);\n" for call in calls)
        + f"int {symbol}(void) {{ return 1{''.join(f' + {call}()' for call in calls)}; }}\n"
    )
    options = ["-shared", "-fPIC", "-Wl,--no-as-needed", f"-Wl,-soname,{path.name}"]
    if rpath is not None:
        options.append(f"-Wl,-rpath,{rpath}")
    gcc(*options, "-o", str(path), str(source), *(str(lib) for lib in needs))
    source.unlink()
    return path
