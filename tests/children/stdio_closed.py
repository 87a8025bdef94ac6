"""Started with file descriptors 1 and 2 closed (a windowed start): call guard_stdio, then print,
log and open a pipe; write what was seen to the JSON file named by the argument."""

from __future__ import annotations

import json
import logging
import os
import sys


def main(result_file: str) -> None:
    before = [sys.stdout is None, sys.stderr is None]
    from pegasus_desktop.logs import guard_stdio

    guard_stdio()
    print("printed")
    sys.stderr.write("written")
    logging.getLogger("x").warning("logged")
    r, w = os.pipe()
    null = os.stat(os.devnull)
    same = [(os.fstat(fd).st_rdev, os.fstat(fd).st_ino) == (null.st_rdev, null.st_ino) for fd in (1, 2)]
    result = {"before": before, "pipe": [r, w], "null": same,
              "inheritable": [os.get_inheritable(1), os.get_inheritable(2)]}
    with open(result_file, "w") as f:
        f.write(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
