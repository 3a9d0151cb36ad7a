"""The checklist as pytest runs it: feature files collected as checklist lines, their tags
registered as markers, and every example's outcome recorded. May import settings/."""
