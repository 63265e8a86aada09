"""The capture benchmark (see leadloop/bench/capture.py); the same as `leadloop bench capture`.

.venv/bin/python benchmarks/capture.py [--requests 3000] [--postgres]
"""

import sys

from leadloop.bench.capture import main

if __name__ == "__main__":
    sys.exit(main())
