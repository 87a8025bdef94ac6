"""sys.stderr open on a closed descriptor, sys.stdout a StringIO (as pytest's capture): call
guard_stdio, write to stderr, and write to the JSON file named by the argument whether each
stream was kept and whether the descriptor is now the null device."""

from __future__ import annotations

import io
import json
import os
import sys


def main(result_file: str) -> None:
    from pegasus_desktop.logs import guard_stdio

    fd = os.open(os.devnull, os.O_WRONLY)
    broken = sys.stderr = open(fd, "w")  # noqa: SIM115 - a stream left open on purpose
    os.close(fd)  # the stream is open, its descriptor is not
    captured = sys.stdout = io.StringIO()
    guard_stdio()
    sys.stderr.write("fine")
    sys.stderr.flush()
    null = os.stat(os.devnull)
    is_null = (os.fstat(fd).st_rdev, os.fstat(fd).st_ino) == (null.st_rdev, null.st_ino)
    result = [sys.stdout is captured, sys.stderr is broken, is_null]
    with open(result_file, "w") as f:
        f.write(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
