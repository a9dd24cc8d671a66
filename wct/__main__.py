"""The ``wct`` command (and ``python -m wct``): the process is the command's own, so it may set what the library may
not: PyTorch's transparent huge pages for big feature maps (about 15 % of a stylization on a CPU; read when PyTorch
first allocates, so set before it loads; THP_MEM_ALLOC_ENABLE=0 opts out)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")
    from .cli import main as run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())
