"""The load result a checklist run judges: `--load-report PATH` from a bigger run, or a
small `readiness load` run made on first use (once per session)."""

from __future__ import annotations

from readiness_harness.checklist.outcomes import not_measured
from readiness_harness.load.figures import Criteria
from readiness_harness.load.plan import LoadPlan
from readiness_harness.load.result import LoadResult, LoadResultError, read_result
from readiness_harness.load.runner import LoadRun, LoadRunError, run_load
from readiness_harness.load.targeting import signable_gateways
from readiness_harness.settings.options import HarnessSettings
from readiness_harness.target.target import Target

IN_LINE_PLAN = {"users": 8, "rate": 40.0, "run_seconds": 10.0}
"""The load a checklist run applies itself: small, about 400 deliveries in 10 s."""


class LoadEvidence:
    """The session's load result, made on first use: `--load-report PATH`, or a small run."""

    def __init__(self, settings: HarnessSettings, target: Target) -> None:
        self.settings = settings
        self.target = target
        self._result: LoadResult | None = None
        self._error: str | None = None
        self.source = ""

    def result(self) -> LoadResult:
        if self._error is not None:
            raise AssertionError(self._error)
        if self._result is None:
            try:
                self._result = self._make()
            except (LoadResultError, LoadRunError) as exc:
                self._error = str(exc)
                raise AssertionError(self._error) from exc
        return self._result

    def _make(self) -> LoadResult:
        given = self.settings.path("load_report")
        if given is not None:
            self.source = f"--load-report {given}"
            return read_result(given)
        self.target.require("admin")
        gateways, left_out = signable_gateways(
            self.target.gateways,
            self.target.secrets,
            embedded=self.target.embedded,
            paypal_verified_here=self.target.has("paypal_signing"),
        )
        if not gateways:
            not_measured(
                "the harness can sign deliveries for none of the target's gateways: " + "; ".join(left_out),
                option="PAYMENTS_WEBHOOK_SECRET or STRIPE_WEBHOOK_SECRET",
            )
        plan = LoadPlan(
            target_url=self.target.url,
            gateways=gateways,
            ca_file=str(self.target.ca_file) if self.target.ca_file else None,
            **IN_LINE_PLAN,  # type: ignore[arg-type]
        )
        output = self.settings.reports_dir / "load"
        self.source = f"a run of readiness load in this line (reports in {output})"
        return run_load(LoadRun(plan, output, self.target.secrets, criteria=Criteria()), self.target.verify)
