"""The README stays true: every setting is documented, and so is each make target."""

from __future__ import annotations

import re
from pathlib import Path

from quantum_trader.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    missing = [f"QT_{name.upper()}" for name in Settings.model_fields if f"QT_{name.upper()}" not in README]
    assert missing == []


def test_every_make_target_is_documented() -> None:
    targets = re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)
    missing = [t for t in targets if t not in ("venv", "clean") and f"make {t}" not in README]
    assert missing == []
