"""docs/dispatch.md draws the order's states and the shipped policy from the data (bot/domain/dispatch.py and
data/dispatch.toml); this fails when they disagree. Regenerate: python -m tests.project.test_dispatch_doc"""

from __future__ import annotations

from pathlib import Path

from bot.domain.dispatch import load_policy, policy_table, states_as_mermaid

DOC = Path(__file__).resolve().parents[2] / "docs" / "dispatch.md"
BEGIN, END = "<!-- generated: begin -->\n", "<!-- generated: end -->\n"


def generated() -> str:
    return (
        "### The order's states (`bot.domain.dispatch.MOVES`)\n\n```mermaid\n"
        + states_as_mermaid()
        + "```\n\n### The shipped policy (`bot/domain/data/dispatch.toml`)\n\n"
        + policy_table(load_policy())
    )


def test_the_manual_draws_the_states_and_the_policy_from_the_data() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert text.split(BEGIN, 1)[1].split(END, 1)[0] == generated(), (
        "regenerate: python -m tests.project.test_dispatch_doc"
    )


if __name__ == "__main__":
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    DOC.write_text(head + BEGIN + generated() + END + rest.split(END, 1)[1], encoding="utf-8")
