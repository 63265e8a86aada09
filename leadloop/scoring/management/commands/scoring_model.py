"""`leadloop scoring_model train [--min-outcomes N] [--activate]` / `activate VERSION` /
`report`: the predictive model's versions, and how the rules and the model did on outcomes."""

from django.core.management.base import BaseCommand, CommandError

from leadloop.scoring import predictive
from leadloop.scoring.models import ScoringModel

FALLBACK = "No model trained: the rules decide. ({why})"


class Command(BaseCommand):
    help = "Train, activate and report on the predictive scoring model."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        train = actions.add_parser("train", help="train a new version on the known outcomes")
        train.add_argument("--min-outcomes", type=int, default=200)
        train.add_argument("--activate", action="store_true", help="make it the active model")
        activate = actions.add_parser("activate", help="make a version the active model")
        activate.add_argument("version", type=int)
        actions.add_parser("report", help="hold-out metrics, lift table and calibration report")

    def handle(self, *, action: str, **options) -> None:
        if action == "train":
            self._train(options["min_outcomes"], options["activate"])
        elif action == "activate":
            self._activate(options["version"])
        else:
            self._report()

    def _train(self, min_outcomes: int, activate: bool) -> None:
        try:
            model = predictive.train_or_explain(min_outcomes)
        except predictive.NotTrained as why:
            self.stdout.write(FALLBACK.format(why=why))
            return
        self.stdout.write(
            f"Trained model v{model.version} on {model.trained_on:,} leads: hold-out AUC "
            f"{model.metrics['auc']:.3f}, Brier {model.metrics['brier']:.4f}."
        )
        self._lift(model.metrics["lift"], "Hold-out lift by decile of the model's probability")
        if activate:
            self._activate(model.version)

    def _activate(self, version: int) -> None:
        try:
            model = predictive.activate(version)
        except ScoringModel.DoesNotExist:
            raise CommandError(f"No model version {version}.") from None
        updated = predictive.apply_all(model)
        self.stdout.write(f"Model v{version} is active; {updated:,} leads have its probability.")

    def _report(self) -> None:
        model = predictive.active_model()
        if model is None:
            self.stdout.write("No active model: the rules decide.")
        else:
            self.stdout.write(
                f"Active model v{model.version}, trained on {model.trained_on:,} leads "
                f"({model.created_at:%Y-%m-%d %H:%M}): hold-out AUC {model.metrics['auc']:.3f}, "
                f"Brier {model.metrics['brier']:.4f}, base rate {model.metrics['base_rate']:.3f}."
            )
            self._lift(model.metrics["lift"], "Hold-out lift by decile of the model's probability")
        report = predictive.calibration_report(model)
        self.stdout.write(
            f"\nDid the scoring predict which leads became revenue? {report['leads']:,} leads "
            f"with a known outcome, {report['base_rate']:.1%} won, revenue {report['revenue']:,.2f}."
        )
        self._side_by_side(report)

    def _lift(self, table: list[dict], title: str) -> None:
        self.stdout.write(f"\n{title}")
        self.stdout.write(f"{'decile':>6} {'leads':>7} {'won':>6} {'rate':>7} {'lift':>5} revenue")
        for row in table:
            self.stdout.write(
                f"{row['decile']:>6} {row['leads']:>7,} {row['won']:>6,} {row['rate']:>7.1%} "
                f"{row['lift']:>5.2f} {row['revenue']:,.2f}"
            )

    def _side_by_side(self, report: dict) -> None:
        model = report["model"]
        self.stdout.write(
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
            self.stdout.write(line)
