"""The built-in standards pack (docs/rules.md): importing this package registers every
built-in rule with :mod:`rules.engine`. One module per rule group."""

from pmohub.rules.builtin import (  # noqa: F401  (imported for registration)
    change,
    closure,
    hygiene,
    planning,
    quality,
    registry,
    reporting,
    resources,
    risk,
    variance,
)
