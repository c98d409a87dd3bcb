"""Forms described from their data: a plain listing, JSON, and a Mermaid flow diagram (never stale)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conversations.form import Form

Tr = Callable[[str], str]


def form_as_dict(form: Form, tr: Tr) -> dict[str, Any]:
    fields = []
    for f in form.fields:
        options = f.options if not callable(f.options) else None
        fields.append(
            {
                "id": f.id,
                "kind": f.kind.value,
                "label": tr(f.label),
                "required": f.required,
                "condition": f.condition_text or None,
                "depends_on": list(f.depends_on),
                "options": [{"value": o.value, "label": tr(o.label)} for o in options] if options else
                ("depends on " + ", ".join(f.depends_on) if callable(f.options) else None),
                "max_length": f.max_length,
                "prefill": f.prefill,
            }
        )  # fmt: skip
    return {"id": form.id, "title": tr(form.title), "fields": fields, "grades": form.suggest_grade is not None}


def form_as_text(form: Form, tr: Tr) -> str:
    lines = [f"{form.id}: {tr(form.title)}"]
    for i, f in enumerate(form.fields, 1):
        extra = [] if f.required else ["optional"]
        if f.condition_text:
            extra.append(f"when {f.condition_text}")
        lines.append(
            f"  {i:>2}. {f.id:<16} {f.kind.value:<20} {tr(f.label)}" + (f"  ({'; '.join(extra)})" if extra else "")
        )
    lines.append("  -> review (edit any field, change the grade) -> submit")
    return "\n".join(lines)


def form_as_mermaid(form: Form, tr: Tr) -> str:
    """A flowchart of the form: each field, skips, conditions, review with edit loops, cancel."""
    out = ["flowchart TD", f'    start(["/report"]) --> {form.fields[0].id}']
    for f in form.fields:
        shape = f'{f.id}["{tr(f.label)}<br/><i>{f.kind.value}</i>"]' if f.required else \
            f'{f.id}["{tr(f.label)}<br/><i>{f.kind.value}, optional</i>"]'  # fmt: skip
        out.append(f"    {shape}")
    for f, nxt in zip(form.fields, [*form.fields[1:], None], strict=True):
        target = nxt.id if nxt else "review"
        label = f"|{nxt.condition_text}|" if nxt and nxt.condition_text else ""
        out.append(f"    {f.id} -->{label} {target}")
        if nxt and nxt.condition is not None:
            after = form.fields[form.fields.index(nxt) + 1].id if form.fields.index(nxt) + 1 < len(form.fields) \
                else "review"  # fmt: skip
            out.append(f"    {f.id} -.->|otherwise| {after}")
        if not f.required:
            out.append(f"    {f.id} -.->|skip| {target}")
    out += [
        '    review{{"review"}}',
        "    review -->|edit a field| edit[[field]] --> review",
    ]
    if form.suggest_grade is not None:
        out.append('    review -->|change grade| grade[["grade + reason"]] --> review')
    out += [
        '    review -->|submit| submitted(["stored, duty group alerted"])',
        '    review -.->|cancel, confirmed| cancelled(["nothing kept"])',
    ]
    return "\n".join(out) + "\n"
