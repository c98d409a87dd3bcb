"""The manual stays true: every setting is in docs/settings.md, every link of the README and docs/ leads somewhere."""

from __future__ import annotations

import re
from pathlib import Path

from bot.app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_documented() -> None:
    text = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [name.upper() for name in Settings.model_fields if f"`{name.upper()}`" not in text]
    assert not missing, f"settings missing from docs/settings.md: {missing}"


def test_every_relative_link_leads_to_a_file() -> None:
    for doc in [ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "benchmarks" / "README.md"]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if "://" in target:
                continue
            assert (doc.parent / target).exists(), f"{doc.relative_to(ROOT)} links to a missing {target}"


def test_the_layout_names_every_package_and_every_import_contract_is_explained() -> None:
    """The architecture doc's layout lists each package (storage's subpackages too) and its text names what each
    import-linter contract keeps apart (the contracts are in pyproject.toml)."""
    import tomllib

    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    layout = doc.split("```", 2)[1]
    packages = ["bot/app/", "handlers/", "bot/telegram/", "bot/usecases/", "storage/", "conversations/", "bot/domain/"]
    packages += [f"{p.parent.name}/" for p in (ROOT / "storage").glob("*/__init__.py") if p.parent.name != "migrations"]
    missing = [p for p in packages if p not in layout]
    assert not missing, f"packages missing from the layout in docs/architecture.md: {missing}"
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    for contract in contracts["contracts"]:
        for module in contract.get("source_modules", []) + contract.get("layers", []):
            assert module.replace(".", "/") in doc or module in doc, f"{contract['name']}: {module} is not explained"
