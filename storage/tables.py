"""Imports every module that defines tables, so that SQLModel.metadata knows them all."""

from storage import models  # noqa: F401
