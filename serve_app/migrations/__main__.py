"""``python -m serve_app.migrations [upgrade]``: the database's schema revision and the latest one; ``upgrade``
migrates it (every start of the platform does this by itself)."""

from __future__ import annotations

import sys

from serve_app.database import connect_unmigrated
from serve_app.migrations import current, head, upgrade
from serve_app.settings import Settings


def main(argv: list[str]) -> int:
    engine = connect_unmigrated(Settings())
    if argv[:1] == ["upgrade"]:
        upgrade(engine)
    print(f"database revision: {current(engine)}; latest: {head()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
