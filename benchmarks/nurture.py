"""The nurture benchmark (see leadloop/bench/nurture.py); the same as `leadloop bench nurture`.

.venv/bin/python benchmarks/nurture.py [--leads 1000000] [--enrollments 100000] [--postgres]
"""

import sys

from leadloop.bench.nurture import main

if __name__ == "__main__":
    sys.exit(main())
