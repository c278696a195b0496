"""Imports every module that defines tables, so that SQLModel.metadata knows them all."""

from storage import models  # noqa: F401
from storage import reach  # noqa: F401
