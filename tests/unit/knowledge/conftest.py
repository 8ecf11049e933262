"""Fixtures for the FAQ knowledge-base tests: a small article folder written per test."""
from __future__ import annotations

from pathlib import Path

import pytest
from faq_helpers import write_article


@pytest.fixture
def faq_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "faq"
    folder.mkdir()
    write_article(
        folder, "card-declined",
        "Card issuers do not say why.\n1. Open the link.\n2. Retry.\n\n## Email\n\nLonger email answer.",
        title="Why was my card declined?",
        questions=["My payment was refused", "The bank rejected my card"],
        links=["{title: Purchase Lookup, url: 'https://support.example/lookup'}"],
    )
    write_article(
        folder, "staff-accounts", "1. Log in.\n2. Click Team.\n3. Add staff account.",
        title="How do I add staff accounts?",
        source_seed='["000", "002"]',
        client="PERFECT for SMB",
        questions=["Add a colleague to the console", "Remove an employee"],
    )
    write_article(
        folder, "quotes", "Customer Service prepares quotes and processes purchase orders.",
        title="Can I get a quote?",
        questions=["Pay with a purchase order", "Price offer for 20 licenses"],
    )
    return folder


@pytest.fixture
def var_dir(tmp_path: Path, monkeypatch) -> Path:
    """SUPPORTBOT_VAR_DIR pointed at a temporary folder (never the project's var/)."""
    folder = tmp_path / "var"
    monkeypatch.setenv("SUPPORTBOT_VAR_DIR", str(folder))
    return folder
