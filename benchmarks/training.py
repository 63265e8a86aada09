"""The training benchmark (see leadloop/bench/training.py): train() on 100,000 labelled leads of
the demo's synthetic history, timed, with the hold-out AUC beside the oracle AUC of the
generator's true propensity.

.venv/bin/python benchmarks/training.py [--leads 100000] [--seed 1]
"""

import sys

from leadloop.bench.training import main

if __name__ == "__main__":
    sys.exit(main())
