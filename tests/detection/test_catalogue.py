"""The catalogue of defective variants is consistent with the checklist, the reference
service's code and the README, without starting anything: every tag is a line of the
checklist, every defect still applies to the reference code, the README's table is the
catalogue."""

from __future__ import annotations

import dataclasses
import re

import pytest
import variant_patches
from campaign import _load_defects
from variant_catalogue import (
    DEPLOYMENT_FINDINGS,
    README,
    REFERENCE,
    TABLE_END,
    TABLE_START,
    VARIANTS,
    SqlEdit,
    Variant,
    catching_tags,
    readme_section,
    readme_table,
    variant_named,
)
from variant_deployment import SCHEMA, VariantError, defect_statements, edited, function_source

from readiness_harness.paths import PROJECT_ROOT

GATEWAYS = {"stripe", "paypal", "standard"}
HOOK_PARTS = {"cache", "database", "service"}


def scenario_tags() -> set[str]:
    """The tags written on the scenarios of features/ (not the features' own)."""
    tags: set[str] = set()
    for feature in (PROJECT_ROOT / "features").glob("*.feature"):
        lines = feature.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            if re.match(r"\s*Scenario( Outline)?:", line):
                above = index - 1
                while above >= 0 and lines[above].strip().startswith("@"):
                    tags.update(re.findall(r"@(\w+)", lines[above]))
                    above -= 1
    return tags


def test_the_readme_table_is_the_catalogue() -> None:
    text = README.read_text(encoding="utf-8")
    assert TABLE_START in text and TABLE_END in text, "README.md lost its detection catalogue block"
    assert readme_section(text) == readme_table(), (
        "README.md's 'What the checklist catches' table differs from tests/detection/variant_catalogue.py: "
        "run `.venv/bin/python tests/detection/variant_catalogue.py --write` and commit both"
    )


def test_every_catching_tag_is_a_line_of_the_checklist() -> None:
    unknown = sorted({*catching_tags(), *DEPLOYMENT_FINDINGS} - scenario_tags())
    assert not unknown, f"the catalogue names tags no scenario of features/ carries: {unknown}"
    both = sorted(set(catching_tags()) & set(DEPLOYMENT_FINDINGS))
    assert not both, f"a line the correct service must verify cannot also fail every deployment: {both}"


@pytest.mark.parametrize("variant", VARIANTS, ids=[variant.name for variant in VARIANTS])
def test_every_variant_is_one_well_formed_defect(variant: Variant) -> None:
    assert re.fullmatch(r"[a-z][a-z0-9_]{0,50}", variant.name), "a name fit for a database and a role"
    assert variant_named(variant.name) is variant, "names are unique"
    assert variant.catches, "a variant names the lines that must fail on it"
    assert all(fragment.strip() for fragment in variant.catches.values()), "each with its message"
    assert set(variant.gateways) <= GATEWAYS and variant.gateways
    assert set(variant.hooks) <= HOOK_PARTS
    ways = [bool(variant.sql), variant.patch is not None, bool(variant.env), variant.proxy is not None]
    assert any(ways), "a variant differs from the reference somehow"
    if variant.patch is not None:
        assert variant.patch in variant_patches.PATCHES, f"no Python defect {variant.patch!r}"
    if variant.proxy is not None:
        fields = {field.name for field in dataclasses.fields(_load_defects().Defect)}
        assert set(variant.proxy) <= fields, (
            f"tests/load/defects.py's Defect has no {set(variant.proxy) - fields}"
        )
    assert variant.defect.strip() and "|" not in variant.defect, "one sentence the README table can hold"


@pytest.mark.parametrize(
    "variant", [variant for variant in VARIANTS if variant.sql], ids=lambda variant: variant.name
)
def test_every_sql_defect_still_applies_to_the_reference_schema(variant: Variant) -> None:
    schema = SCHEMA.read_text(encoding="utf-8")
    statements = defect_statements(variant, schema)
    for step, statement in zip(variant.sql, statements, strict=True):
        if isinstance(step, SqlEdit):
            assert statement.startswith(f"CREATE OR REPLACE FUNCTION {step.function}(")
            assert statement != function_source(schema, step.function), "the edit changes the function"


def test_an_edit_that_no_longer_applies_stops_and_names_the_variant() -> None:
    gone = SqlEdit("record_refund", "a line the reference does not have", "")
    with pytest.raises(VariantError, match="variant ghost: its edit of record_refund no longer applies"):
        edited(SCHEMA.read_text(encoding="utf-8"), gone, "ghost")
    with pytest.raises(VariantError, match="defines function no_such_function 0 times"):
        edited(SCHEMA.read_text(encoding="utf-8"), SqlEdit("no_such_function", "x", "y"), "ghost")


def test_the_reference_is_the_correct_service_with_what_the_variants_get() -> None:
    assert not (REFERENCE.sql or REFERENCE.patch or REFERENCE.env or REFERENCE.proxy)
    assert set(REFERENCE.gateways) == GATEWAYS
    needed = {part for variant in VARIANTS for part in variant.hooks}
    assert needed <= set(REFERENCE.hooks), "the correct service is judged in the variants' conditions"
    with pytest.raises(KeyError, match="no variant 'ghost'"):
        variant_named("ghost")
