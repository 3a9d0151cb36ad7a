"""The readiness report: line states, waivers and attestations, the verdict, readiness.json,
the Markdown summary, and the Allure results and HTML report. May import checklist/ and settings/."""
