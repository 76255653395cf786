"""The README and docs/ stay true: the settings reference is what the code generates, and every
path, link, make target, command and setting they name exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from quantum_trader.cli import COMMANDS
from quantum_trader.settings import Settings
from tools import settings_doc

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
MAKEFILE = (ROOT / "Makefile").read_text()
MAKE_TARGETS = set(re.findall(r"^([a-z][a-z-]*):", MAKEFILE, flags=re.MULTILINE))
README_MAX_LINES = 200
# Top-level folders of this repository: a name starting with one of them is a repository path.
TOP_DIRS = ("quantum_trader", "workflows", "activities", "workers", "tools", "bench", "paper_exchange", "tests", "docs", "deploy")
# QT_* variables the docs may name that are test switches, not settings.
TEST_SWITCHES = ("QT_RECORD_HISTORIES", "QT_FUZZ_EXAMPLES")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, f"README has no '## {heading}' section"
    return match.group(1)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


# The settings reference


def test_settings_doc_is_what_the_generator_writes() -> None:
    """Names, defaults and descriptions agree with the Settings model (`make docs` rewrites it)."""
    assert (ROOT / "docs" / "settings.md").read_text(encoding="utf-8") == settings_doc.render()


def test_settings_doc_names_every_setting_once() -> None:
    text = _text(ROOT / "docs" / "settings.md")
    rows = re.findall(r"^\| `(QT_[A-Z0-9_]+)` \|", text, flags=re.MULTILINE)
    assert rows == [f"QT_{name.upper()}" for name in Settings.model_fields]


def test_settings_doc_shows_no_secret_value(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret is always shown unset, whatever the environment holds."""
    secrets = [name for name, info in Settings.model_fields.items() if settings_doc._is_secret(info)]
    assert secrets
    for name in secrets:
        monkeypatch.setenv(f"QT_{name.upper()}", "s3cr3t-value-never-printed")
    text = settings_doc.render()
    assert "s3cr3t-value-never-printed" not in text
    for name in secrets:
        assert f"| `QT_{name.upper()}` | unset |" in text


def test_settings_doc_check_passes_on_the_committed_file() -> None:
    assert settings_doc.main(["--check"]) == 0


def test_every_setting_is_described_in_the_model() -> None:
    undescribed = [name for name, info in Settings.model_fields.items() if not info.description and not name.endswith("_file")]
    assert undescribed == []


# The README


def test_readme_is_at_most_200_lines() -> None:
    lines = len(_text(README).splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_every_path_the_layout_map_names_exists() -> None:
    """First column: a path from the root; a file or folder named in a row is inside that row's folder
    (or, when it starts with a top-level folder, a path from the root)."""
    rows = [line for line in _section(_text(README), "Layout").splitlines() if line.startswith("| `")]
    assert rows
    missing = []
    for row in rows:
        first, rest = row.strip("|").split("|", 1)
        base = first.strip().strip("`")
        if not (ROOT / base).exists():
            missing.append(base)
            continue
        if not base.endswith("/"):
            continue
        for token in re.findall(r"`([^`\s]+)`", rest):
            if re.fullmatch(r"[\w.-]+(/[\w.-]+)*(\.py|/)", token):
                if not (ROOT / base / token).exists() and not (token.startswith(TOP_DIRS) and (ROOT / token).exists()):
                    missing.append(base + token)
    assert missing == []


def test_every_top_level_folder_is_in_the_layout_map() -> None:
    layout = _section(_text(README), "Layout")
    unmapped = [name for name in TOP_DIRS if f"| `{name}/` |" not in layout]
    assert unmapped == []


def test_readme_links_every_doc() -> None:
    text = _text(README)
    unlinked = [_name(doc) for doc in DOCS if doc.name != "README.md" and f"]({_name(doc)})" not in text]
    assert unlinked == []


def test_readme_names_its_commands() -> None:
    text = _text(README)
    for command in ("make demo", "make test", "make test-slow"):
        assert f"`{command}" in text or f"\n{command} " in text, command


# Every page: README.md and docs/*.md


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_link_resolves(page: Path) -> None:
    """Relative links and images point at files that exist, and at headings that exist."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", _text(page)):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif anchor and file.suffix == ".md":
            headings = re.findall(r"^#+ (.+)$", file.read_text(encoding="utf-8"), flags=re.MULTILINE)
            if anchor not in {_slug(h) for h in headings}:
                broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_repository_path_named_exists(page: Path) -> None:
    """`tests/workflows/test_futures.py`, `tools/audit.py`, ...: paths that move must be renamed here too."""
    pattern = rf"(?<![\w/.<-])((?:{'|'.join(TOP_DIRS)})/[\w./-]*)"
    missing = []
    for path in re.findall(pattern, _text(page)):
        path = path.rstrip(".")
        if "<" in path or not path:
            continue
        if not (ROOT / path).exists():
            missing.append(path)
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_make_target_named_exists(page: Path) -> None:
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)\b", _text(page)))
    assert named - MAKE_TARGETS == set()


def test_every_make_target_is_documented_in_the_readme() -> None:
    text = _text(README)
    missing = [t for t in sorted(MAKE_TARGETS) if t not in ("venv", "clean") and f"make {t}" not in text]
    assert missing == []


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_quantum_trader_command_named_exists(page: Path) -> None:
    named = set(re.findall(r"\bquantum-trader ([a-z][a-z-]*)\b", _text(page)))
    assert named - set(COMMANDS) == set()


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_qt_variable_named_is_a_setting(page: Path) -> None:
    """A QT_* name in the docs is a setting (or its _FILE variant), or a test switch the tests read."""
    settings = {f"QT_{name.upper()}" for name in Settings.model_fields}
    named = set(re.findall(r"\bQT_[A-Z0-9_]*[A-Z0-9]\b", _text(page)))
    unknown = sorted(named - settings - set(TEST_SWITCHES))
    assert unknown == []


def test_the_test_switches_the_docs_name_are_read_somewhere() -> None:
    sources = [MAKEFILE, *(p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py") if p.name != "test_docs.py")]
    unread = [name for name in TEST_SWITCHES if not any(name in source for source in sources)]
    assert unread == []
