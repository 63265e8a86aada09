"""The training benchmark: train the predictive model on labelled leads (target: 100,000 in
under 60 s) and print its hold-out AUC beside the oracle AUC of the true propensity.

The labelled history is the demo's (leadloop/demo/synthetic.py): CleanPro's leads with latent
fit, intent, source quality and season, each decided lead won or lost by its known propensity,
in a fresh SQLite database of its own. The oracle AUC is that propensity's AUC on the model's
own hold-out: the best any model could rank those leads.

    .venv/bin/python benchmarks/training.py [--leads 100000] [--seed 1]

Django is set up only in `main()`, so what needs it is imported inside the functions.
"""

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from leadloop.demo.synthetic import Dataset

TARGET_LEADS = 100_000
TARGET_SECONDS = 60.0
# A fixed end, so a seed names one history whatever the day the benchmark runs.
END = datetime(2026, 1, 1, tzinfo=UTC)


def labelled_history(labelled: int, seed: int = 1) -> tuple["Dataset", dict[str, float]]:
    """The shortest history with `labelled` decided leads (the rest are deals still open), and
    the decided leads' true propensities by email. A history's first n leads are the same
    whatever its size, so one pass along a long one finds the size."""
    from leadloop.demo import synthetic

    truth: dict[str, float] = {}
    # About 85% of a year's deals are decided by its end: twice as many leads is plenty.
    for made, record in enumerate(synthetic.generate(2 * labelled, seed, end=END).leads(), 1):
        if record.outcome:
            truth[record.email] = record.propensity
            if len(truth) == labelled:
                return synthetic.generate(made, seed, end=END), truth
    raise ValueError(f"fewer than {labelled} decided leads in {2 * labelled}")


def oracle_auc(truth: dict[str, float], seed: int) -> float:
    """The true propensity's AUC on the hold-out `predictive.train(seed=seed)` scores itself on:
    the same labelled leads, in the same order, split the same way."""
    from sklearn.metrics import roc_auc_score

    from leadloop.scoring import predictive

    leads, known = predictive.labelled_leads()
    won = np.array([known[lead.pk].won for lead in leads], dtype=int)
    propensity = np.array([truth[lead.email] for lead in leads])
    _, test_rows = predictive.hold_out_split(won, seed)
    return float(roc_auc_score(won[test_rows], propensity[test_rows]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=TARGET_LEADS, help="labelled leads")
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        # A fresh SQLite database of its own: the benchmark never touches the real one.
        os.environ["LEADLOOP_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadloop.settings")
        return _run(options.leads, options.seed, Path(home))


def _run(labelled: int, seed: int, home: Path) -> int:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from leadloop.demo import synthetic
    from leadloop.scoring import predictive

    started = time.perf_counter()
    dataset, truth = labelled_history(labelled, seed)
    stats = synthetic.load(dataset)
    print(
        f"generated {stats.leads:,} leads ({labelled:,} labelled, {stats.events:,} events) "
        f"in {time.perf_counter() - started:.1f} s ({home})"
    )
    started = time.perf_counter()
    model = predictive.train(seed=seed)
    took = time.perf_counter() - started
    if model is None:
        print("no model trained (see the log)")
        return 1
    print(f"train(): {took:.1f} s for {model.trained_on:,} labelled leads")
    print(f"hold-out AUC {model.metrics['auc']:.3f}  oracle AUC {oracle_auc(truth, seed):.3f}")
    print(f"Brier {model.metrics['brier']:.4f}  base rate {model.metrics['base_rate']:.3f}")
    print(f"calibration: {model.metrics['calibration']}")
    return _verdict(model.trained_on, took)


def _verdict(trained_on: int, seconds: float) -> int:
    if trained_on < TARGET_LEADS:
        print(f"target: not measured ({trained_on:,} leads, the target is {TARGET_LEADS:,})")
        return 0
    met = seconds < TARGET_SECONDS
    verdict = "met" if met else "MISSED"
    print(f"target: {TARGET_LEADS:,} labelled in under {TARGET_SECONDS:.0f} s: {verdict}")
    return 0 if met else 2
