"""Long-run soak benchmark: ``python benchmarks/soak.py soak|align ...`` (same as ``foley bench``).

The harness is :mod:`foley_engine.lab.soak`, so ``foley bench`` works from an installed wheel too.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from foley_engine.lab.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
