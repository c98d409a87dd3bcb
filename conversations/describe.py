"""Forms described from their data: a plain listing, JSON, and a Mermaid flow diagram (never stale)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conversations.form import Form
from conversations.kinds import Choice, MultiChoice

Tr = Callable[[str], str]


def _options(f: Any, tr: Tr) -> Any:
    kind = f.kind
    if not isinstance(kind, Choice | MultiChoice):
        return None
    if callable(kind.options):
        return "depends on " + ", ".join(f.depends_on) if f.depends_on else "from the context"
    return [{"value": o.value, "label": o.label if o.literal else tr(o.label)} for o in kind.options]


def form_as_dict(form: Form, tr: Tr) -> dict[str, Any]:
    fields = [
        {
            "id": f.id,
            "kind": f.kind.name,
            "label": tr(f.label),
            "required": f.required,
            "condition": f.condition_text or None,
            "depends_on": list(f.depends_on),
            "options": _options(f, tr),
            "limits": f.kind.limits(),
            "prefill": f.prefill,
        }
        for f in form.fields
    ]
    return {
        "id": form.id,
        "version": form.version,
        "title": tr(form.title),
        "submit": form.submit,
        "fields": fields,
        "review_addons": [a.id for a in form.addons],
    }


def form_as_text(form: Form, tr: Tr) -> str:
    lines = [f"{form.id} (v{form.version}): {tr(form.title)}"]
    for i, f in enumerate(form.fields, 1):
        extra = [] if f.required else ["optional"]
        if f.condition_text:
            extra.append(f"when {f.condition_text}")
        lines.append(
            f"  {i:>2}. {f.id:<16} {f.kind.name:<20} {tr(f.label)}" + (f"  ({'; '.join(extra)})" if extra else "")
        )
    addons = "".join(f", {a.id}" for a in form.addons)
    lines.append(f"  -> review (edit any field{addons}) -> {form.done_text or 'submit'}")
    return "\n".join(lines)


def form_as_mermaid(form: Form, tr: Tr) -> str:
    """A flowchart of the form: each field, skips, conditions, review with edit loops, cancel."""
    out = ["flowchart TD", f'    start(["{form.id}"]) --> {form.fields[0].id}']
    for f in form.fields:
        kind = f.kind.name if f.required else f"{f.kind.name}, optional"
        out.append(f'    {f.id}["{tr(f.label)}<br/><i>{kind}</i>"]')
    for f, nxt in zip(form.fields, [*form.fields[1:], None], strict=True):
        target = nxt.id if nxt else "review"
        label = f"|{nxt.condition_text}|" if nxt and nxt.condition_text else ""
        out.append(f"    {f.id} -->{label} {target}")
        if nxt and nxt.condition is not None:
            i = form.fields.index(nxt) + 1
            out.append(f"    {f.id} -.->|otherwise| {form.fields[i].id if i < len(form.fields) else 'review'}")
        if not f.required:
            out.append(f"    {f.id} -.->|skip| {target}")
    out += ['    review{{"review"}}', "    review -->|edit a field| edit[[field]] --> review"]
    for addon in form.addons:
        out.append(f'    review -->|{addon.id}| {addon.id}[["{addon.id}: {" + ".join(addon.screens)}"]] --> review')
    out += [
        f'    review -->|submit| submitted(["{form.done_text or "submitted"}"])',
        '    review -.->|cancel, confirmed| cancelled(["nothing kept"])',
    ]
    return "\n".join(out) + "\n"
