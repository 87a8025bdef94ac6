"""The app's name, version and description for the bundle, from the places they are written once:
``pyproject.toml`` (name, version, description) and the app itself (its title).

Imported by the PyInstaller spec and by ``build.py``; needs nothing outside the standard library
(``tomli`` on Python 3.10).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class AppInfo:
    name: str  # "pegasus-desktop": the executable, the folder, the .desktop file and icon names
    title: str  # "Pegasus Desktop": what people see
    version: str  # "0.1.0"
    description: str
    bundle_id: str  # the macOS bundle identifier

    @property
    def version_tuple(self) -> tuple[int, int, int, int]:
        """Four numbers for the Windows version resource: "1.2.3rc1" -> (1, 2, 3, 0)."""
        numbers = [int(n) for n in re.findall(r"\d+", self.version.split("+")[0])[:3]]
        return tuple(numbers + [0] * (4 - len(numbers)))  # type: ignore[return-value]


def _app_title(root: Path) -> str:
    """``APP_TITLE`` from pegasus_desktop/resources.py, read without importing the app."""
    source = (root / "pegasus_desktop" / "resources.py").read_text(encoding="utf-8")
    match = re.search(r'^APP_TITLE = "([^"]+)"$', source, re.MULTILINE)
    if match is None:
        raise RuntimeError('pegasus_desktop/resources.py no longer defines APP_TITLE = "..."')
    return match.group(1)


def read(root: Path = ROOT) -> AppInfo:
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name = project["name"]
    return AppInfo(
        name=name,
        title=_app_title(root),
        version=project["version"],
        description=project["description"],
        bundle_id=f"org.{name.replace('-', '')}.app",
    )
