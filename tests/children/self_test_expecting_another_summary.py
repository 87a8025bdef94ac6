"""The app's ``--self-test`` (the arguments) expecting a summary the fixture never gives."""

from __future__ import annotations

import sys


def main() -> int:
    import pegasus_desktop.self_test as self_test
    from pegasus_desktop.__main__ import main as app

    self_test.EXPECTED_SUMMARY = "Anna sold 3 cars."
    return app()


if __name__ == "__main__":
    sys.exit(main())
