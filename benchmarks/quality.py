"""The quality benchmark (see leadloop/bench/quality.py); the same as `leadloop bench quality`.

.venv/bin/python benchmarks/quality.py [--leads 1000000] [--lookups 2000] [--postgres]
"""

import sys

from leadloop.bench.quality import main

if __name__ == "__main__":
    sys.exit(main())
