"""Damage copies of an export in eight ways, each behind a manifest rewritten to match (so only
loading can notice), and try to summarize with each: one JSON line per case,
``[case, "EngineError" | another exception's class | "loaded", message]``.

Arguments: the export folder, a work folder for the copies.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def truncate(folder: Path, name: str, keep: float = 0.5) -> None:
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: int(len(data) * keep)])


def garbage(folder: Path, name: str) -> None:
    (folder / name).write_bytes(bytes(range(256)) * 40)


CASES = {
    "encoder truncated": lambda f: truncate(f, "encoder.onnx"),
    "decoder garbage": lambda f: garbage(f, "decoder.onnx"),
    "weights truncated": lambda f: truncate(f, "weights.bin", 0.3),
    "weights empty": lambda f: truncate(f, "weights.bin", 0.0),
    "tokenizer garbage": lambda f: garbage(f, "tokenizer.json"),
    "tokenizer truncated": lambda f: truncate(f, "tokenizer.json"),
    "config not pegasus": lambda f: (f / "config.json").write_text('{"model_type": "bert"}'),
    "config garbage": lambda f: garbage(f, "config.json"),
}


def main(source: Path, work: Path) -> None:
    from engine.errors import EngineError
    from engine.model_dir import read_manifest, write_manifest
    from engine.summarizer import Summarizer

    for name, damage in CASES.items():
        folder = work / name.replace(" ", "-")
        shutil.copytree(source, folder)
        (folder / ".verified.json").unlink(missing_ok=True)
        info = {k: v for k, v in read_manifest(folder).items() if k not in ("files", "format")}
        damage(folder)
        write_manifest(folder, info)  # the damage is now "consistent": only loading can catch it
        try:
            Summarizer.load(folder).summarize("w5 w6 w7")
        except EngineError as e:
            print(json.dumps([name, "EngineError", str(e)]), flush=True)
        except Exception as e:  # noqa: BLE001 - what the test looks for
            print(json.dumps([name, type(e).__name__, str(e)]), flush=True)
        else:
            print(json.dumps([name, "loaded", ""]), flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
