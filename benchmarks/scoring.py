"""The scoring benchmark (see leadloop/bench/scoring.py); the same as `leadloop bench scoring`.

.venv/bin/python benchmarks/scoring.py [--leads 1000000] [--batch-size 2000] [--postgres]
"""

import sys

from leadloop.bench.scoring import main

if __name__ == "__main__":
    sys.exit(main())
