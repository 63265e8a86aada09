"""The training benchmark: train the predictive model on labelled leads (target: 100,000 in
under 60 s) and print its hold-out AUC beside the oracle AUC of the true propensity.

The shared synthetic-history generator (leadloop/demo/synthetic.py) had not landed when this was
written, so `history()` here makes a small labelled history whose true propensity is known:
a logistic function of what the features see (company size, budget and timeline given,
channel, quality, free mail, pricing visits, email replies, demo requests). Won leads also get
events after their close (onboarding), which the model must not see.

    .venv/bin/python benchmarks/training.py [--leads 100000] [--seed 1]
"""

import argparse
import math
import os
import tempfile
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np

CHANNELS = {"paid_search": 0.3, "organic": 0.2, "referral": 0.9, "paid_social": -0.6, "email": 0.0}
INDUSTRIES = ["software", "retail", "health", "finance", "education", "logistics"]
INTERCEPT = -2.3


@dataclass
class History:
    lead_ids: list[int]
    propensity: np.ndarray  # each lead's true probability of winning, in lead_ids order
    won: np.ndarray


def history(size: int, seed: int = 1, events: bool = True) -> History:
    """Leads with timelines and a won or lost outcome drawn from a known propensity. With
    `events=False` no engagement events are written (faster, for tests of the plumbing)."""
    from django.utils import timezone

    from leadloop.core.models import Event, Lead, Source

    rng = np.random.default_rng(seed)
    now = timezone.now()
    sources = {
        channel: Source.objects.get_or_create(name=f"Synthetic {channel}", channel=channel)[0]
        for channel in CHANNELS
    }
    channel = rng.choice(list(CHANNELS), size=size)
    size_log = rng.normal(3.5, 1.2, size).clip(0, 9)
    budget = rng.random(size) < 0.4
    timeline = rng.random(size) < 0.3
    free_mail = rng.random(size) < 0.25
    suspect = rng.random(size) < 0.08
    industry = rng.choice(INDUSTRIES, size=size)
    intent = rng.normal(0, 1, size)  # unseen: it shows only through the events it causes
    pricing = rng.poisson(np.exp(0.3 + 0.6 * intent)) if events else np.zeros(size, int)
    replies = rng.poisson(np.exp(-0.8 + 0.5 * intent)) if events else np.zeros(size, int)
    demo = (rng.random(size) < 1 / (1 + np.exp(-(intent - 1.0)))) & events
    views = rng.poisson(4, size) if events else np.zeros(size, int)
    logit = (
        INTERCEPT
        + 0.35 * (size_log - 3.5)
        + 0.8 * budget
        + 0.5 * timeline
        - 0.7 * free_mail
        - 1.0 * suspect
        + np.array([CHANNELS[c] for c in channel])
        + 0.25 * (industry == "software")
        + 0.9 * np.log1p(pricing)
        + 0.6 * np.log1p(replies)
        + 1.1 * demo
    )
    propensity = 1 / (1 + np.exp(-logit))
    won = rng.random(size) < propensity
    leads = Lead.objects.bulk_create(
        [
            Lead(
                first_name=f"Synthetic{i}",
                source=sources[channel[i]],
                quality="suspect" if suspect[i] else "valid",
                quality_signals={"email": {"free_mail": bool(free_mail[i])}},
                custom_fields={
                    "company_size": round(math.expm1(size_log[i])),
                    "industry": str(industry[i]),
                    **({"budget": "10k-50k"} if budget[i] else {}),
                    **({"timeline": "this quarter"} if timeline[i] else {}),
                },
                captured_at=now - timedelta(days=120),
            )
            for i in range(size)
        ],
        batch_size=2000,
    )
    rows = []
    for i, lead in enumerate(leads):
        closed = now - timedelta(days=float(rng.uniform(1, 30)))
        before = (closed - timedelta(days=float(d)) for d in rng.uniform(1, 80, 200))
        rows += [Event(lead=lead, type="page.viewed", occurred_at=next(before), data={"path": "/"})]
        rows += [
            Event(lead=lead, type="page.viewed", occurred_at=next(before), data={"path": "/docs"})
            for _ in range(views[i])
        ]
        rows += [
            Event(
                lead=lead, type="page.viewed", occurred_at=next(before), data={"path": "/pricing"}
            )
            for _ in range(min(pricing[i], 30))
        ]
        rows += [
            Event(lead=lead, type="email.replied", occurred_at=next(before))
            for _ in range(min(replies[i], 30))
        ]
        if demo[i]:
            rows.append(
                Event(
                    lead=lead,
                    type="form.submitted",
                    occurred_at=next(before),
                    data={"kind": "demo_request"},
                )
            )
        if won[i]:
            revenue = f"{rng.uniform(500, 20_000):.2f}"
            data = {"revenue": revenue, "closed_at": closed.isoformat()}
            rows.append(Event(lead=lead, type="deal.won", occurred_at=closed, data=data))
            # Onboarding after the close: engagement the model must not learn from.
            rows += [
                Event(lead=lead, type="email.replied", occurred_at=closed + timedelta(hours=h))
                for h in (1, 2, 3)
            ]
        else:
            data = {"closed_at": closed.isoformat(), "reason": "no budget"}
            rows.append(Event(lead=lead, type="deal.lost", occurred_at=closed, data=data))
    Event.objects.bulk_create(rows, batch_size=5000)
    return History([lead.pk for lead in leads], propensity, won)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as home:
        # A fresh SQLite database of its own: the benchmark never touches the real one.
        os.environ["LEADLOOP_HOME"] = home
        os.environ.pop("DATABASE_URL", None)
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadloop.settings")
        return _run(options.leads, options.seed, Path(home))


def _run(size: int, seed: int, home: Path) -> int:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from sklearn.metrics import roc_auc_score

    from leadloop.scoring import predictive

    started = time.perf_counter()
    made = history(size, seed)
    print(f"generated {size:,} labelled leads in {time.perf_counter() - started:.1f} s ({home})")
    started = time.perf_counter()
    model = predictive.train(seed=seed)
    took = time.perf_counter() - started
    if model is None:
        print("no model trained (see the log)")
        return 1
    # The true propensity scored on the model's own hold-out (labelled leads are in pk order,
    # as the generator made them).
    _, test_rows = predictive.hold_out_split(made.won.astype(int), seed)
    oracle = roc_auc_score(made.won[test_rows], made.propensity[test_rows])
    print(f"train(): {took:.1f} s for {model.trained_on:,} leads (target < 60 s)")
    print(f"hold-out AUC {model.metrics['auc']:.3f}  oracle AUC {oracle:.3f}")
    print(f"Brier {model.metrics['brier']:.4f}  base rate {model.metrics['base_rate']:.3f}")
    print(f"calibration: {model.metrics['calibration']}")
    return 0 if took < 60 else 2
