"""`make bench`: the benchmark scenarios. None exists yet; they arrive with the catalog
(products list under load) and identity (login against the Argon2id ceiling)."""

from __future__ import annotations

import sys


def main() -> int:
    print("bench: no benchmark scenarios yet; see docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
