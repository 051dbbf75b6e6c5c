"""Shipped test plans (YAML, ``schema: satcert-plan/1``); a package so that wheels carry them."""

from pathlib import Path

PLANS_DIR = Path(__file__).resolve().parent
