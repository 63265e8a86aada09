"""`leadloop scoring train [--min-outcomes N] [--activate]` / `activate VERSION` / `report`:
the predictive model's versions, and how the rules and the model did on known outcomes."""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from leadloop.scoring import predictive
from leadloop.scoring.models import ScoringModel

FALLBACK = "No model trained: the rules decide. ({why})"


def train_arguments(parser: CommandParser) -> None:
    parser.add_argument("--min-outcomes", type=int, default=200)
    parser.add_argument(
        "--activate", dest="make_active", action="store_true", help="make it the active model"
    )


def activate_arguments(parser: CommandParser) -> None:
    parser.add_argument("version", type=int)


def no_arguments(parser: CommandParser) -> None:
    """`report` takes none."""


def train(command: BaseCommand, *, min_outcomes: int, make_active: bool, **_) -> None:
    try:
        model = predictive.train_or_explain(min_outcomes)
    except predictive.NotTrained as why:
        command.stdout.write(FALLBACK.format(why=why))
        return
    command.stdout.write(
        f"Trained model v{model.version} on {model.trained_on:,} leads: hold-out AUC "
        f"{model.metrics['auc']:.3f}, Brier {model.metrics['brier']:.4f}."
    )
    _lift(command, model.metrics["lift"], "Hold-out lift by decile of the model's probability")
    if make_active:
        activate(command, version=model.version)


def activate(command: BaseCommand, *, version: int, **_) -> None:
    try:
        model = predictive.activate(version)
    except ScoringModel.DoesNotExist:
        raise CommandError(f"No model version {version}.") from None
    updated = predictive.apply_all(model)
    command.stdout.write(f"Model v{version} is active; {updated:,} leads have its probability.")


def report(command: BaseCommand, **_) -> None:
    model = predictive.active_model()
    if model is None:
        command.stdout.write("No active model: the rules decide.")
    else:
        command.stdout.write(
            f"Active model v{model.version}, trained on {model.trained_on:,} leads "
            f"({model.created_at:%Y-%m-%d %H:%M}): hold-out AUC {model.metrics['auc']:.3f}, "
            f"Brier {model.metrics['brier']:.4f}, base rate {model.metrics['base_rate']:.3f}."
        )
        _lift(command, model.metrics["lift"], "Hold-out lift by decile of the model's probability")
    report = predictive.calibration_report(model)
    command.stdout.write(
        f"\nDid the scoring predict which leads became revenue? {report['leads']:,} leads "
        f"with a known outcome, {report['base_rate']:.1%} won, revenue {report['revenue']:,.2f}."
    )
    _side_by_side(command, report)


def _lift(command: BaseCommand, table: list[dict], title: str) -> None:
    command.stdout.write(f"\n{title}")
    command.stdout.write(f"{'decile':>6} {'leads':>7} {'won':>6} {'rate':>7} {'lift':>5} revenue")
    for row in table:
        command.stdout.write(
            f"{row['decile']:>6} {row['leads']:>7,} {row['won']:>6,} {row['rate']:>7.1%} "
            f"{row['lift']:>5.2f} {row['revenue']:,.2f}"
        )


def _side_by_side(command: BaseCommand, report: dict) -> None:
    model = report["model"]
    command.stdout.write(
        f"{'decile':>6} | {'rules: rate':>11} {'lift':>5} {'revenue':>14} | "
        + (f"{'model: rate':>11} {'lift':>5} {'revenue':>14}" if model else "no model")
    )
    for i, rules in enumerate(report["rules"]):
        line = (
            f"{rules['decile']:>6} | {rules['rate']:>11.1%} {rules['lift']:>5.2f} "
            f"{rules['revenue']:>14,.2f} |"
        )
        if model:
            row = model[i]
            line += f" {row['rate']:>11.1%} {row['lift']:>5.2f} {row['revenue']:>14,.2f}"
        command.stdout.write(line)
