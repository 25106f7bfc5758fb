"""The generated enterprise: structured ground truth plus the documents rendered from it.

`build_world(seed, scale)` is the entry point; records live in `entities`.
"""
from .build import DEFAULT_SCALE, build_world
from .entities import (ActionItem, Customer, Deal, Document, FinanceRow, Note, Person,
                       Product, Project, Runbook, Team, World)

__all__ = ["build_world", "DEFAULT_SCALE", "World", "Document", "Person", "Team", "Customer",
           "Product", "Deal", "FinanceRow", "Runbook", "Project", "Note", "ActionItem"]
