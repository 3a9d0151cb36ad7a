"""The defective variants of the reference service the checklist must fail, and the lines
that catch each one.

Each variant is the reference service with one defect a hurried implementation of the
contract would have, written as a small change to the real code: an edit of one SQL
function of `schema.sql` (applied as the schema's owner after the migration, as a deploy
would apply it), a Python change applied in the variant's own process before the service
starts (`variant_patches`), settings in its environment, or a proxy in front of it that
adds the defect on the wire (`tests/load/defects.py`). An edit that no longer applies to
the reference code stops the test loudly; it never runs the correct service instead.

`catches` names the checklist lines (by their criterion tag) that must fail on the
variant, each with a fragment of the failure message it must give, so a line that fails
for another reason (a variant that did not start, a setup step) does not count. The
README's "What the checklist catches" table is rendered from this catalogue and checked
against it by tests/detection/test_catalogue.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SqlEdit:
    """Replace `old` (which must occur exactly once) by `new` in one function of the
    reference schema.sql, and create the function again from the edited text."""

    function: str
    old: str
    new: str


Statement = str | SqlEdit
"""A SQL statement run as the owner, or an edit of one of the schema's functions."""


@dataclass(frozen=True)
class Variant:
    name: str
    """Also the variant's database and role name: lower case, digits and _."""
    group: str
    """The defect class, as the README groups them."""
    defect: str
    """What is wrong, in one sentence (the README's wording)."""
    catches: dict[str, str]
    """Criterion tag of each line that must fail -> a fragment of its failure message."""
    gateways: tuple[str, ...] = ("stripe", "standard")
    """The gateways its run uses (PayPal through the harness's sandbox)."""
    sql: tuple[Statement, ...] = ()
    patch: str | None = None
    """The name of a Python defect in variant_patches.PATCHES."""
    env: dict[str, str] = field(default_factory=dict)
    """Settings of the variant's deployment (on top of the reference ones)."""
    proxy: dict[str, float | int | bool] | None = None
    """A tests/load/defects.py `Defect` in front of the correct service instead."""
    hooks: tuple[str, ...] = ()
    """Outage hooks its run gets (with --allow-disruption): cache, database (each its own
    then), service."""

    @property
    def marker(self) -> str:
        """The -m expression that selects exactly the lines meant to catch it."""
        return " or ".join(self.catches)


# Edits shared by several variants.
REFUND_UPSERT = """    INSERT INTO purchases (payment_id, gateway, status, refunded_at)
    VALUES (p_payment_id, p_gateway, 'refunded', now())
    ON CONFLICT (payment_id, gateway) DO UPDATE
        SET status = 'refunded',
            refunded_at = coalesce(purchases.refunded_at, excluded.refunded_at)
    RETURNING purchases.purchase_id INTO v_purchase_id;"""
REFUND_UPDATE_ONLY = SqlEdit(
    "record_refund",
    REFUND_UPSERT,
    """    UPDATE purchases SET status = 'refunded', refunded_at = coalesce(purchases.refunded_at, now())
    WHERE purchases.payment_id = p_payment_id AND purchases.gateway = p_gateway
    RETURNING purchases.purchase_id INTO v_purchase_id;""",
)
"""A refund updates the purchase when there is one; a refund before its capture records
nothing but its event id, so the late capture delivers live cards."""

SIGNATURE_FAILURE = "expected 401, got 200"
AUDIT_TRAIL_DIFFERS = ", expected [{'type': "
"""The audit-table step's own wording when the trail differs from the table."""
UNSIGNED_ACCEPTED = "an unsigned event answered 200"

VARIANTS: tuple[Variant, ...] = (
    # --- exactly once
    Variant(
        "check_then_act_dedupe",
        "Exactly once",
        "Deduplicates by reading first (is there a purchase for this payment?) and inserting "
        "after, with no unique key on the event or the payment: concurrent duplicates race "
        "past the check",
        {"retry_safe": "deliveries created a pack"},
        sql=(
            "ALTER TABLE webhook_events DROP CONSTRAINT IF EXISTS webhook_events_pkey",
            "ALTER TABLE purchases DROP CONSTRAINT IF EXISTS purchases_payment_id_gateway_key",
            SqlEdit(
                "record_capture",
                "    ON CONFLICT (payment_id, gateway) DO NOTHING\n    RETURNING purchases.purchase_id",
                "    RETURNING purchases.purchase_id",
            ),
            REFUND_UPDATE_ONLY,
        ),
        patch="check_then_act",
    ),
    Variant(
        "second_event_delivers_again",
        "Exactly once",
        "Deduplicates by event id only: a second, different capture event for a paid payment "
        "upserts the purchase and adds another pack of cards",
        {
            "no_double_delivery": "'status': 'captured'",
            "early_refund": "the late capture delivered 5 live cards",
        },
        sql=(
            SqlEdit(
                "record_capture",
                "ON CONFLICT (payment_id, gateway) DO NOTHING",
                "ON CONFLICT (payment_id, gateway) DO UPDATE SET user_id = excluded.user_id",
            ),
        ),
    ),
    Variant(
        "duplicates_answered_409",
        "Exactly once",
        "Answers a duplicate delivery 409 Conflict instead of acknowledging it, so the "
        "gateway keeps retrying it",
        {"retry_safe": "(409, 'duplicate')", "no_double_delivery": "answered 409"},
        patch="duplicates_409",
    ),
    Variant(
        "acknowledged_before_written",
        "Exactly once",
        "Acknowledges a capture at once and writes it from a buffer flushed twice a second: "
        "an answered capture is not in the database yet, and duplicates inside the window "
        "are delivered as new",
        {"capture_once": "GET /purchases/", "retry_safe": "(200, 'captured')"},
        patch="acknowledge_before_write",
    ),
    # --- refunds
    Variant(
        "refund_keeps_cards",
        "Refunds",
        "A refund marks the purchase refunded but revokes none of its cards",
        {
            "refund_revokes": "'cards_revoked': 0",
            "refund_revokes_all": "cards are still live after the refund",
        },
        sql=(
            SqlEdit(
                "record_refund",
                "    UPDATE cards SET revoked = true\n"
                "    WHERE cards.purchase_id = v_purchase_id AND NOT cards.revoked;\n"
                "    GET DIAGNOSTICS v_revoked = ROW_COUNT;\n",
                "",
            ),
        ),
    ),
    Variant(
        "refund_misses_one_card",
        "Refunds",
        "A refund revokes every card but the last (an off-by-one)",
        {
            "refund_revokes": "'cards_revoked': 4",
            "refund_revokes_all": "1 cards are still live after the refund",
        },
        sql=(
            SqlEdit(
                "record_refund",
                "WHERE cards.purchase_id = v_purchase_id AND NOT cards.revoked;",
                "WHERE cards.purchase_id = v_purchase_id AND NOT cards.revoked\n"
                "      AND cards.card_id < (SELECT max(c.card_id) FROM cards c"
                " WHERE c.purchase_id = v_purchase_id);",
            ),
        ),
    ),
    Variant(
        "refund_leaves_purchase_active",
        "Refunds",
        "A refund revokes the cards but leaves the purchase active",
        {
            "refund_revokes": "the purchase is not marked refunded",
            "refund_revokes_all": "the purchase is not marked refunded",
        },
        sql=(
            SqlEdit(
                "record_refund",
                "        SET status = 'refunded',\n",
                "        SET status = purchases.status,\n",
            ),
        ),
    ),
    Variant(
        "early_refund_dropped",
        "Refunds",
        "A refund that arrives before its capture finds no purchase and is dropped "
        "(acknowledged, nothing kept), so the late capture delivers live cards",
        {"early_refund": "the purchase reads 'active'"},
        sql=(REFUND_UPDATE_ONLY,),
    ),
    Variant(
        "stripe_refund_by_charge_id",
        "Refunds",
        "Stripe refunds are looked up by the charge id (data.object.id) instead of the "
        "payment intent, so a Stripe refund revokes nothing of the purchase",
        {
            "refund_revokes": "'payment_id': 'ch_",
            "refund_revokes_all": "the purchase is not marked refunded",
        },
        gateways=("stripe",),
        patch="stripe_refund_by_charge_id",
    ),
    # --- the audit trail
    Variant(
        "rejections_not_audited",
        "Audit trail",
        "Deliveries refused for their signature, size or content type are logged but not "
        "written to the audit trail",
        {
            "audit_logged": AUDIT_TRAIL_DIFFERS,
            "signature_required": "no 'rejected' audit entry",
        },
        patch="audit_skips_rejected",
    ),
    Variant(
        "duplicates_not_audited",
        "Audit trail",
        "A duplicate delivery changes nothing, as it should, and leaves no audit row",
        {"audit_logged": AUDIT_TRAIL_DIFFERS},
        sql=(
            SqlEdit(
                "record_capture",
                "        INSERT INTO audit_log (event_id, gateway, event_type, payment_id, outcome, detail)\n"
                "        VALUES (p_event_id, p_gateway, p_event_type, p_payment_id, 'duplicate',\n"
                "                'event id already processed');\n",
                "",
            ),
        ),
    ),
    Variant(
        "audit_outcome_always_accepted",
        "Audit trail",
        "Every capture's audit row says 'accepted', the duplicates' included: the trail "
        "has a row per delivery but cannot tell what each did",
        {"audit_logged": AUDIT_TRAIL_DIFFERS},
        sql=(
            SqlEdit(
                "record_capture",
                "        VALUES (p_event_id, p_gateway, p_event_type, p_payment_id, 'duplicate',\n"
                "                'event id already processed');\n",
                "        VALUES (p_event_id, p_gateway, p_event_type, p_payment_id, 'accepted',\n"
                "                'event id already processed');\n",
            ),
        ),
    ),
    Variant(
        "ignored_events_not_audited",
        "Audit trail",
        "Events of a type the service does not handle are acknowledged without an audit row",
        {"unknown_event_type": "lists []"},
        patch="audit_skips_ignored",
    ),
    Variant(
        "signature_in_audit_trail",
        "Audit trail",
        "A refused delivery's audit row quotes the signature header it carried",
        {"signature_required": "the audit trail holds secret or signature material"},
        patch="audit_quotes_signature",
    ),
    # --- signatures
    Variant(
        "unsigned_accepted",
        "Signatures",
        "Verifies a signature only when the delivery carries one: an unsigned delivery is processed",
        {
            "unsigned_rejected": UNSIGNED_ACCEPTED,
            "signature_verification": UNSIGNED_ACCEPTED,
            "signature_required": SIGNATURE_FAILURE,
        },
        patch="unsigned_accepted",
    ),
    Variant(
        "forged_accepted",
        "Signatures",
        "A failed verification is logged and the delivery processed anyway (fails open)",
        {
            "signature_required": SIGNATURE_FAILURE,
            "audit_logged": "a forged capture answered 200",
            "unsigned_rejected": UNSIGNED_ACCEPTED,
        },
        patch="fails_open",
    ),
    Variant(
        "signatures_switched_off",
        "Signatures",
        "Deployed with REQUIRE_WEBHOOK_SIGNATURE=false (a development setting left on)",
        {
            "signature_verification": UNSIGNED_ACCEPTED,
            "unsigned_rejected": UNSIGNED_ACCEPTED,
            "signature_required": SIGNATURE_FAILURE,
        },
        env={"REQUIRE_WEBHOOK_SIGNATURE": "false"},
    ),
    Variant(
        "paypal_verification_status_ignored",
        "Signatures",
        "PayPal deliveries are accepted whenever PayPal's verify-webhook-signature call "
        "answers, whatever its verification_status says",
        {"signature_required": SIGNATURE_FAILURE, "audit_logged": "a forged capture answered 200"},
        gateways=("paypal",),
        patch="paypal_status_ignored",
    ),
    Variant(
        "refusal_blocks_genuine_delivery",
        "Signatures",
        "Event ids are remembered before the signature is verified, so a forged delivery "
        "with a payment's event id blocks the genuine one (answered as a duplicate)",
        {
            "signature_required": "the refusal left a record that blocks the real capture",
            "audit_logged": "a forged capture answered 200",
        },
        patch="dedupe_before_verification",
    ),
    Variant(
        "no_timestamp_window",
        "Signatures",
        "Signatures are checked but their timestamps are not: a delivery signed long ago "
        "or far ahead is processed (replays are accepted)",
        {"signature_required": SIGNATURE_FAILURE},
        patch="no_timestamp_window",
    ),
    Variant(
        "timestamp_past_bound_only",
        "Signatures",
        "Only timestamps from the past are bounded (as the stripe library alone does): a "
        "delivery signed 330 s in the future is processed",
        {"signature_required": SIGNATURE_FAILURE},
        patch="timestamp_past_bound_only",
    ),
    Variant(
        "timestamp_window_too_narrow",
        "Signatures",
        "A 60 s timestamp window instead of the contract's 300 s: genuine deliveries "
        "delayed by a few minutes are refused and lost",
        {"timestamp_window": "capture answered 401"},
        env={"SIGNATURE_TOLERANCE_S": "60"},
    ),
    # --- bad input
    Variant(
        "malformed_json_500",
        "Bad input",
        "Malformed JSON under a valid signature raises and is answered 500 (the gateway "
        "retries it for days) instead of 400",
        {"signature_required": "expected 400, got 500"},
        gateways=("standard", "paypal"),
        patch="malformed_json_raises",
    ),
    Variant(
        "unknown_event_type_500",
        "Bad input",
        "An event of a type the service does not handle raises (a handler table without "
        "that key) and is answered 500",
        {"unknown_event_type": "'detail': 'internal error'"},
        patch="unknown_event_type_raises",
    ),
    Variant(
        "unknown_pack_delivers_default",
        "Bad input",
        "A capture for a pack type the service does not sell delivers a default pack of 5",
        {"unknown_pack": "expected 422, got 200"},
        sql=(
            SqlEdit(
                "record_capture",
                """    IF v_card_count IS NULL THEN
        INSERT INTO audit_log (event_id, gateway, event_type, payment_id, outcome, detail)
        VALUES (p_event_id, p_gateway, p_event_type, p_payment_id, 'rejected',
                'unknown pack type');
        RETURN QUERY SELECT 'rejected'::text, NULL::bigint, 0, NULL::text;
        RETURN;
    END IF;""",
                """    IF v_card_count IS NULL THEN  -- not a pack we sell: deliver the default one
        p_pack_type := 'black';
        v_card_count := 5;
    END IF;""",
            ),
        ),
    ),
    Variant(
        "wrong_pack_size",
        "Bad input",
        "The pack table says a gold pack holds 5 cards instead of 3",
        {"pack_size": "pack=gold, cards=3]"},
        sql=("UPDATE pack_types SET card_count = 5 WHERE pack_type = 'gold'",),
    ),
    Variant(
        "oversize_body_processed",
        "Bad input",
        "Reads and processes a body of any size (no 256 KiB limit)",
        {"signature_required": "expected 413, got 200"},
        gateways=("standard", "paypal"),
        patch="no_body_limit",
    ),
    Variant(
        "content_type_ignored",
        "Bad input",
        "Processes a body whatever its content type (text/plain included)",
        {"signature_required": "expected 415, got 200"},
        gateways=("standard", "paypal"),
        patch="content_type_ignored",
    ),
    # --- admin routes
    Variant(
        "admin_routes_open",
        "Admin routes",
        "The admin routes (/purchases, /audit) answer without any token",
        {"admin_token": "expected 401, got 200"},
        patch="admin_open",
    ),
    Variant(
        "admin_accepts_any_token",
        "Admin routes",
        "The admin routes check that a bearer token is present, not that it is the admin token",
        {"admin_token": "expected 401, got 200"},
        patch="admin_any_token",
    ),
    # --- performance (a proxy in front of the correct service)
    Variant(
        "slow_captures",
        "Performance",
        "Every capture takes 6 s (a proxy holds each capture before the correct service)",
        {"processing_latency": "took 5s or more or failed"},
        gateways=("stripe",),
        proxy={"capture_delay_s": 6.0},
    ),
    Variant(
        "some_captures_fail",
        "Performance",
        "One delivery in 30 (3.3%) answers 500 (a proxy in front of the correct service)",
        {"processing_success_rate": "answered 5xx, more than the 0 allowed"},
        gateways=("stripe",),
        proxy={"fail_every": 30},
    ),
    # --- operations
    Variant(
        "metrics_missing",
        "Operations",
        "The service exposes no /metrics route",
        {"metrics_exposed": "/metrics answered 404"},
        patch="no_metrics_route",
    ),
    Variant(
        "metrics_never_move",
        "Operations",
        "/metrics declares the delivery series, but deliveries are counted in a registry it "
        "never renders, so they never move",
        {"metrics_exposed": "the capture was not counted"},
        patch="metrics_not_counted",
    ),
    Variant(
        "stripe_endpoint_missing",
        "Operations",
        "The Stripe webhook route is not mounted (404)",
        {"endpoints_reachable": "an empty delivery answered 404", "gateway_secrets": "answered 404"},
        patch="no_stripe_route",
    ),
    Variant(
        "redis_on_webhook_path",
        "Operations",
        "Every delivery first counts itself in Redis (a rate counter), so deliveries fail "
        "while Redis is down",
        {"redis_outage": "payments lack exactly one pack"},
        gateways=("standard",),
        patch="redis_on_webhook_path",
        hooks=("cache",),
    ),
    Variant(
        "database_outage_500",
        "Operations",
        "Database errors are not told apart from bugs: during a PostgreSQL outage deliveries "
        "are answered 500 instead of 503 (retry later)",
        {"database_outage": "expected 503"},
        gateways=("standard",),
        patch="database_errors_unhandled",
        hooks=("database",),
    ),
    Variant(
        "status_without_checks",
        "Operations",
        "/status answers 200 ok without asking PostgreSQL or Redis",
        {"redis_outage": "/status answered 200 while Redis was down"},
        gateways=("standard",),
        patch="status_always_ok",
        hooks=("cache",),
    ),
)

REFERENCE = Variant(
    "reference",
    "Reference",
    "none: the reference service as it is",
    {},
    gateways=("stripe", "paypal", "standard"),
    hooks=("cache", "database"),
)
"""The correct service, run once over every line, with every gateway and the outage
hooks the variants get (its own database and cache): it must fail no line, and verify
every line of the catalogue."""

DEPLOYMENT_FINDINGS: dict[str, str] = {"load_balancer": "only 1 instance(s) answered"}
"""Lines every deployment of these tests fails, the correct service's included, and the
message each must give: each deployment is one service instance addressed directly, with
no balancer in front, which is what @load_balancer exists to fail. The correct service's
run must fail exactly these lines, for that reason, and no other."""

KNOWN_GAPS: tuple[tuple[str, str], ...] = (
    (
        "A signature compared with `==` instead of in constant time",
        "the timing difference is nanoseconds, far below what HTTP round trips can show; "
        "review the code (the reference uses the stripe and standardwebhooks libraries)",
    ),
    (
        "The amount or currency of a capture ignored",
        "the contract does not say which price a pack has, so no line can judge an amount",
    ),
    (
        "A service killed mid-delivery that loses answered captures",
        "@crash_recovery is the line for it; its variant is not run here (a crash run "
        "restarts the service and streams captures for some 20 s)",
    ),
)
"""Defects the checklist does not catch in these runs, and why (the README says so)."""


def variant_named(name: str) -> Variant:
    for variant in (*VARIANTS, REFERENCE):
        if variant.name == name:
            return variant
    known = ", ".join(variant.name for variant in VARIANTS)
    raise KeyError(f"no variant {name!r}; the catalogue has: reference, {known}")


def catching_tags() -> list[str]:
    """Every tag some variant must fail, in catalogue order."""
    return list(dict.fromkeys(tag for variant in VARIANTS for tag in variant.catches))


README = Path(__file__).parents[2] / "README.md"
TABLE_START = (
    "<!-- detection catalogue: rendered from tests/detection/variant_catalogue.py "
    "(python tests/detection/variant_catalogue.py --write); tests/detection checks it -->"
)
TABLE_END = "<!-- end of detection catalogue -->"


def readme_table() -> str:
    """The README's table of defects and the lines that catch them, and the known gaps."""
    rows = [
        "| defect class | variant (`tests/detection`) | what is wrong | caught by (fails) |",
        "| --- | --- | --- | --- |",
    ]
    for variant in VARIANTS:
        where = ", ".join(variant.gateways)
        rows.append(
            f"| {variant.group} | `{variant.name}` ({where}) | {variant.defect} | "
            + ", ".join(f"`@{tag}`" for tag in variant.catches)
            + " |"
        )
    rows.append(
        "| Deployment | every deployment here, `reference` included | One service instance "
        "addressed directly, no load balancer in front | "
        + ", ".join(f"`@{tag}`" for tag in DEPLOYMENT_FINDINGS)
        + " |"
    )
    gaps = [f"- {defect}: {why}." for defect, why in KNOWN_GAPS]
    return "\n".join([TABLE_START, *rows, "", "Not caught by these runs:", "", *gaps, TABLE_END])


def readme_section(text: str) -> str:
    """The rendered block as the README holds it now (empty when it holds none)."""
    start, end = text.find(TABLE_START), text.find(TABLE_END)
    if start < 0 or end < start:
        return ""
    return text[start : end + len(TABLE_END)]


def write_readme() -> None:
    text = README.read_text(encoding="utf-8")
    current = readme_section(text)
    if not current:
        raise SystemExit(f"{README} has no detection catalogue block ({TABLE_START!r} ... {TABLE_END!r})")
    README.write_text(text.replace(current, readme_table()), encoding="utf-8")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["--write"]:
        write_readme()
    else:
        sys.stdout.write(readme_table() + "\n")
