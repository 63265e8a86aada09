"""The routing benchmark (see leadloop/bench/routing.py); the same as `leadloop bench routing`.

.venv/bin/python benchmarks/routing.py [--leads 1000] [--rate 20] [--fast-rate 100] [--postgres]
"""

import sys

from leadloop.bench.routing import main

if __name__ == "__main__":
    sys.exit(main())
