"""Validated value types shared by the settings, the fault API and the request bodies."""

from typing import Annotated

from pydantic import Field, StringConstraints

# No email-validator dependency for a demo: one "@" and a dot in the domain is enough to
# reject obvious junk with a 422, which is all the signup probe needs to observe.
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=254,
        pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$",
    ),
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]

ErrorRatio = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
# Capped at 10 minutes: longer than any probe timeout, short enough that a typo cannot wedge
# a server's connections for hours.
LatencyMs = Annotated[int, Field(ge=0, le=600_000)]
