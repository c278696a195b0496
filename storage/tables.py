"""Imports every module that defines tables, so that SQLModel.metadata knows them all."""

from storage import (
    calendars,  # noqa: F401
    crowd,  # noqa: F401
    delivery,  # noqa: F401
    models,  # noqa: F401
    publication,  # noqa: F401
    reach,  # noqa: F401
    requests,  # noqa: F401
)
