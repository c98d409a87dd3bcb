"""`python -m bot`: run the bot, migrate the database, administer units, users and invites."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from bot.app.settings import Settings, SettingsError, load_settings
from bot.domain.clock import format_local
from bot.domain.durations import parse_duration

T = TypeVar("T")

NO_TOKEN = (
    "BOT_TOKEN is not set: talk to @BotFather in Telegram (https://t.me/BotFather, /newbot) to get one.\n"
    "Put it in the environment (export BOT_TOKEN=123456:ABC...) or in a .env file here (BOT_TOKEN=...).\n"
    "To try Kuaibao without Telegram or a token: python -m bot sandbox (a web page on http://127.0.0.1:8080)."
)


def _settings(ctx: click.Context) -> Settings:
    try:
        return load_settings(ctx.obj or {})
    except SettingsError as exc:
        click.echo(str(exc), err=True)
        ctx.exit(2)
        raise AssertionError from None  # unreachable


def _configure_logging(settings: Settings) -> None:
    from bot.app.logs import configure

    configure(settings.log_level, settings.secrets())


def _with_repos(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run one unit of work against a migrated database; turn refusals into exit code 1."""
    from storage.uow import unit_of_work

    async def in_transaction(sessionmaker: Any) -> T:
        async with unit_of_work(sessionmaker) as repos:
            return await work(repos)

    return _with_database(settings, in_transaction)


def _with_database(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run work with a sessionmaker of the migrated database; turn refusals into exit code 1."""
    from bot.usecases.common import AdminError
    from storage.db import create_engine, create_sessionmaker, migrate

    async def go() -> T:
        engine = create_engine(settings.database_url)
        try:
            await migrate(engine)
            return await work(create_sessionmaker(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(go())
    except AdminError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@click.group()
@click.pass_context
def main(ctx: click.Context) -> None:
    """Kuaibao (快报): emergency information reporting bot."""
    ctx.ensure_object(dict)


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Apply migrations and start long polling."""
    settings = _settings(ctx)
    if settings.bot_token is None:
        click.echo(NO_TOKEN, err=True)
        ctx.exit(2)
    _configure_logging(settings)
    from bot.app.runtime import run as run_bot

    asyncio.run(run_bot(settings))


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="the page's port (default SANDBOX_PORT)")
@click.option("--empty", is_flag=True, help="start with no office (set one up as an operator would)")
@click.option("--reset", is_flag=True, help="forget the sandbox's database and chats first")
@click.option("--scenario", default=None, help="a drill to play: a YAML file, or the name of one that ships")
@click.pass_context
def sandbox(ctx: click.Context, port: int | None, empty: bool, reset: bool, scenario: str | None) -> None:
    """Try Kuaibao without Telegram: a Bot API stand-in, the real bot and a web page on 127.0.0.1 where you play
    every role (docs/sandbox.md). Its own database (SANDBOX_DATABASE, ./sandbox.db) and clock, which the page moves."""
    settings = _settings(ctx)
    from bot.app.sandbox.drills import ScenarioError, find, load

    drill = None
    if scenario is not None:
        try:
            drill = load(find(scenario))
        except ScenarioError as exc:
            click.echo(str(exc), err=True)
            ctx.exit(2)
    _configure_logging(settings)
    import logging

    logging.getLogger("alembic").setLevel(logging.WARNING)  # a newcomer's first screen: the page's address, not DDL
    from bot.app.sandbox.runner import Sandbox, run

    box = Sandbox(settings, port=port or settings.sandbox_port, empty=empty, reset=reset, scenario=drill)

    def ready(url: str) -> None:
        click.echo(f"Kuaibao sandbox: open {url} in a browser (Ctrl-C stops it; --reset starts over)")
        if drill is not None:
            click.echo(f"the drill «{drill.title}» starts when the page is opened")

    from sqlalchemy.exc import OperationalError

    try:
        asyncio.run(run(box, ready))
    except OSError as exc:
        click.echo(f"the sandbox could not start: {exc} (another port: --port or SANDBOX_PORT)", err=True)
        ctx.exit(1)
    except OperationalError as exc:
        click.echo(
            f"the sandbox could not open its database {box.database}: {exc.orig} (another file: SANDBOX_DATABASE)",
            err=True,
        )
        ctx.exit(1)


@main.command()
@click.option("--workers", type=click.IntRange(1, 64), default=1, help="worker processes on this machine (gunicorn)")
@click.pass_context
def serve(ctx: click.Context, workers: int) -> None:
    """Webhook mode: serve WEBHOOK_URL's path on WEBHOOK_LISTEN and work the update inbox; any number of workers on
    PostgreSQL, on this machine (--workers, run by gunicorn) and others, behind one URL; one on SQLite. `run` (long
    polling) removes the webhook again."""
    settings = _settings(ctx)
    if settings.bot_token is None:
        click.echo(NO_TOKEN, err=True)
        ctx.exit(2)
    if not settings.webhook_url or settings.webhook_secret is None:
        click.echo(
            "serve needs WEBHOOK_URL (the public https URL Telegram posts to) and WEBHOOK_SECRET (1-256 of "
            "A-Z a-z 0-9 _ -, e.g. from: python -c 'import secrets; print(secrets.token_urlsafe(32))'); "
            "see docs/operations.md",
            err=True,
        )
        ctx.exit(2)
    if workers > 1:
        if settings.database_url.startswith("sqlite"):
            click.echo(
                f"--workers {workers} on SQLite: SQLite has one writer and serves one worker; run several workers on "
                "PostgreSQL (DATABASE_URL=postgresql+asyncpg://…), or one here without --workers",
                err=True,
            )
            ctx.exit(2)
        import os

        from bot.app.gunicorn import command

        args = command(workers, settings.webhook_listen)
        os.execv(args[0], args)  # gunicorn takes over this process: it forks the workers and supervises them
    _configure_logging(settings)
    from bot.app.runtime import SqliteTaken
    from bot.app.runtime import serve as serve_bot

    try:
        asyncio.run(serve_bot(settings))
    except SqliteTaken as exc:
        click.echo(str(exc), err=True)
        ctx.exit(2)


@main.command()
@click.argument("target", type=click.Path(dir_okay=False, writable=True))
@click.pass_context
def backup(ctx: click.Context, target: str) -> None:
    """SQLite: copy the database to TARGET while the bot runs (SQLite's online backup: a consistent copy, the bot
    goes on writing). PostgreSQL: use pg_dump (docs/operations.md)."""
    settings = _settings(ctx)
    if not settings.database_url.startswith("sqlite"):
        click.echo("this database is PostgreSQL: back it up with pg_dump -Fc (see docs/operations.md)", err=True)
        ctx.exit(2)
    from storage.db import backup_sqlite

    try:
        pages = backup_sqlite(settings.database_url, target)
    except (OSError, ValueError) as exc:
        click.echo(f"backup failed: {exc}", err=True)
        ctx.exit(1)
    click.echo(f"backed up {pages} pages to {target}")


@main.command("migrate-data")
@click.option(
    "--from", "source", required=True, help="the database to copy from, e.g. sqlite+aiosqlite:///./kuaibao.db"
)
@click.option("--to", "target", required=True, help="an empty database to copy into, e.g. postgresql+asyncpg://…")
@click.pass_context
def migrate_data(ctx: click.Context, source: str, target: str) -> None:
    """Move every row from one database to another (SQLite to PostgreSQL), the bot stopped; the target must be
    empty. Each table's rows are counted on both sides at the end."""
    from bot.app.settings import Settings
    from storage.db import create_engine
    from storage.transfer import TransferError, transfer

    for url in (source, target):
        try:
            Settings._check_db(url)
        except ValueError as exc:
            click.echo(f"{url.split('@')[-1]}: {exc}", err=True)
            ctx.exit(2)

    async def go() -> None:
        src, dst = create_engine(source), create_engine(target)
        try:
            await transfer(src, dst, say=click.echo)
        finally:
            await src.dispose()
            await dst.dispose()

    try:
        asyncio.run(go())
    except TransferError as exc:
        click.echo(str(exc), err=True)
        ctx.exit(1)
    click.echo("moved; point DATABASE_URL at the new database and start the bot")


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Upgrade the database schema to the newest revision."""
    settings = _settings(ctx)
    from storage.db import create_engine, current_revision
    from storage.db import migrate as do_migrate

    async def go() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            await do_migrate(engine)
            return await current_revision(engine)
        finally:
            await engine.dispose()

    click.echo(f"database at revision {asyncio.run(go())}")


@main.command("compile-catalogs")
@click.pass_context
def compile_catalogs_cmd(ctx: click.Context) -> None:
    """Compile the .po catalogs into .mo files (the Docker build does this)."""
    from bot.telegram.i18n import compile_catalogs

    for path in compile_catalogs(_settings(ctx).locales_dir):
        click.echo(f"wrote {path}")


@main.group()
def admin() -> None:
    """Units, users, invites and duty groups."""


@admin.command("add-unit")
@click.option("--code", required=True, help="Short unique code, e.g. city-ops")
@click.option("--name", required=True, help="Display name, e.g. 市应急管理局")
@click.option("--parent", default=None, help="Code of the parent unit")
@click.pass_context
def add_unit(ctx: click.Context, code: str, name: str, parent: str | None) -> None:
    """Create a unit (optionally under a parent)."""
    from bot.usecases.onboarding import add_unit as do

    unit = _with_repos(_settings(ctx), lambda r: do(r, "cli", code, name, parent))
    click.echo(f"unit {unit.code} created (id {unit.id})")


@admin.command("add-user")
@click.option("--telegram-id", required=True, type=int)
@click.option("--name", required=True)
@click.option("--unit", "unit_code", required=True)
@click.option("--role", "roles", required=True, multiple=True, help="Repeat or comma-separate for several")
@click.option("--phone", default=None)
@click.pass_context
def add_user(
    ctx: click.Context, telegram_id: int, name: str, unit_code: str, roles: tuple[str, ...], phone: str | None
) -> None:
    """Register a user directly."""
    from bot.usecases.onboarding import add_user as do

    user = _with_repos(_settings(ctx), lambda r: do(r, "cli", telegram_id, name, unit_code, list(roles), phone))
    click.echo(f"user {user.telegram_id} ({user.name}) added to {unit_code} as {', '.join(sorted(user.roles))}")


@admin.command("set-role")
@click.option("--telegram-id", required=True, type=int)
@click.option("--role", "roles", required=True, multiple=True, help="The complete new set of roles")
@click.pass_context
def set_role(ctx: click.Context, telegram_id: int, roles: tuple[str, ...]) -> None:
    """Replace a user's roles."""
    from bot.usecases.onboarding import set_roles

    user = _with_repos(_settings(ctx), lambda r: set_roles(r, "cli", telegram_id, list(roles)))
    click.echo(f"user {user.telegram_id} now has roles {', '.join(sorted(user.roles))}")


@admin.command("list-users")
@click.option("--unit", "unit_code", default=None)
@click.pass_context
def list_users(ctx: click.Context, unit_code: str | None) -> None:
    """List users (of one unit, or all)."""
    from bot.usecases.onboarding import list_users as do

    rows = _with_repos(_settings(ctx), lambda r: do(r, unit_code))
    click.echo("telegram_id\tname\tunit\troles\tphone\tstatus")
    for u in rows:
        status = "active" if u.active else "inactive"
        click.echo("\t".join([str(u.telegram_id), u.name, u.unit_code, ",".join(u.roles), u.phone or "-", status]))


@admin.command("deactivate")
@click.option("--telegram-id", required=True, type=int)
@click.pass_context
def deactivate(ctx: click.Context, telegram_id: int) -> None:
    """Deactivate a person: their buttons, commands and open drafts stop at once; nothing is deleted (audited)."""
    _set_active(ctx, telegram_id, False)


@admin.command("reactivate")
@click.option("--telegram-id", required=True, type=int)
@click.pass_context
def reactivate(ctx: click.Context, telegram_id: int) -> None:
    """Reactivate a deactivated person (audited)."""
    _set_active(ctx, telegram_id, True)


def _set_active(ctx: click.Context, telegram_id: int, active: bool) -> None:
    from bot.usecases.onboarding import set_active

    user = _with_repos(_settings(ctx), lambda r: set_active(r, "cli", telegram_id, active))
    click.echo(f"{user.telegram_id} ({user.name}) is {'active again' if active else 'deactivated'}")


@admin.command("revoke-invite")
@click.option("--code", required=True, help="the invite's code, or the whole invite link")  # (a code may start with -)
@click.pass_context
def revoke_invite(ctx: click.Context, code: str) -> None:
    """Revoke an unused invite (the code, or the whole invite link): it cannot be redeemed any more (audited)."""
    from bot.usecases.onboarding import revoke_invite as do

    _with_repos(_settings(ctx), lambda r: do(r, "cli", code.strip().rsplit("start=", 1)[-1]))
    click.echo("the invite is revoked")


@admin.command("quarantine")
@click.argument("action", type=click.Choice(["list", "retry", "drop"]), default="list")
@click.argument("update_id", type=int, required=False)
@click.pass_context
def quarantine(ctx: click.Context, action: str, update_id: int | None) -> None:
    """Updates set aside after they stopped the bot again and again: list them; retry one (the running bot runs it
    again within seconds, else at its next start) or drop one (taken as handled without running it)."""
    from bot.domain.clock import utcnow
    from storage.inbox import Inbox

    settings = _settings(ctx)
    if settings.bot_token is None:
        click.echo("error: BOT_TOKEN is needed to know which bot's updates to look at", err=True)
        sys.exit(2)
    if action != "list" and update_id is None:
        click.echo(f"error: quarantine {action} needs the update id (see: quarantine list)", err=True)
        sys.exit(2)
    bot_id = int(settings.bot_token.get_secret_value().split(":", 1)[0])

    async def work(sessionmaker: Any) -> Any:
        inbox = Inbox(sessionmaker, bot_id)
        if action == "list":
            return await inbox.quarantined()
        assert update_id is not None
        return await (inbox.release(update_id) if action == "retry" else inbox.drop(update_id, utcnow()))

    result = _with_database(settings, work)
    if action == "list":
        click.echo("update_id	received_at	set_aside_at	runs	error")
        for q in result:
            click.echo(
                f"{q.update_id}	{q.received_at:%Y-%m-%d %H:%M:%S}	{q.quarantined_at:%Y-%m-%d %H:%M:%S}	"
                f"{q.attempts}	{q.error or '-'}"
            )
        return
    if not result:
        click.echo(f"error: no update {update_id} is set aside", err=True)
        sys.exit(1)
    done = (
        "is released: the running bot runs it within seconds (else the next start)" if action == "retry" else "dropped"
    )
    click.echo(f"update {update_id} {done}")


@admin.command("invite")
@click.option("--unit", "unit_code", required=True)
@click.option("--role", required=True)
@click.option("--expires", default="7d", show_default=True, help="e.g. 30m, 12h, 7d, 2w")
@click.pass_context
def invite(ctx: click.Context, unit_code: str, role: str, expires: str) -> None:
    """Create a one-time invite and print its deep link."""
    from bot.usecases.onboarding import create_invite

    ttl = parse_duration(expires)
    if ttl is None:
        click.echo(f"error: bad --expires {expires!r} (use e.g. 30m, 12h, 7d)", err=True)
        sys.exit(2)
    settings = _settings(ctx)
    username = settings.bot_username or _fetch_username(settings)
    inv = _with_repos(settings, lambda r: create_invite(r, "cli", unit_code, role, ttl))
    click.echo(f"https://t.me/{username}?start={inv.code}")
    click.echo(f"(one use, for {role} of {unit_code}, expires {format_local(inv.expires_at, settings.tz)})", err=True)


def _fetch_username(settings: Settings) -> str:
    if settings.bot_token is None:
        click.echo("error: set BOT_USERNAME, or BOT_TOKEN so the bot's username can be asked for", err=True)
        sys.exit(2)
    from bot.app.runtime import build_bot

    async def go() -> str:
        bot = build_bot(settings)
        try:
            me = await bot.get_me()
            return me.username or ""
        finally:
            await bot.session.close()

    try:
        return asyncio.run(go())
    except Exception as exc:
        click.echo(f"error: cannot reach the Bot API at {settings.bot_api_base} ({exc}); set BOT_USERNAME", err=True)
        sys.exit(1)


@admin.command("bind-group")
@click.option("--chat-id", required=True, type=int)
@click.option("--unit", "unit_code", required=True)
@click.pass_context
def bind_group_cmd(ctx: click.Context, chat_id: int, unit_code: str) -> None:
    """Bind a group chat (negative id) as a unit's duty group; its title is asked from the Bot API."""
    from bot.usecases.onboarding import bind_group_by_code

    if chat_id >= 0:
        click.echo("error: a group chat id is negative (e.g. -1001234567890)", err=True)
        sys.exit(2)
    settings = _settings(ctx)
    title = _fetch_chat_title(settings, chat_id)
    _with_repos(settings, lambda r: bind_group_by_code(r, "cli", chat_id, unit_code, title))
    click.echo(f"chat {chat_id} ({title or 'title unknown'}) is now the duty group of {unit_code}")


def _fetch_chat_title(settings: Settings, chat_id: int) -> str | None:
    """The group's title from the Bot API, so messages name it; None when the API cannot be asked."""
    if settings.bot_token is None:
        return None
    from bot.app.runtime import build_bot

    async def go() -> str | None:
        bot = build_bot(settings)
        try:
            return (await bot.get_chat(chat_id)).title
        finally:
            await bot.session.close()

    try:
        return asyncio.run(go())
    except Exception as exc:  # the binding still works; the title is only for display
        click.echo(f"warning: could not ask the Bot API for the group's title ({exc})", err=True)
        return None


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output")
@click.option("--mermaid", is_flag=True, help="A Mermaid flowchart of each form")
@click.option("--locale", default=None, help="zh_Hans or en (default: DEFAULT_LOCALE)")
@click.pass_context
def forms(ctx: click.Context, as_json: bool, mermaid: bool, locale: str | None) -> None:
    """Print every form's fields, generated from the form data."""
    import json

    from bot.telegram.i18n import Catalogs
    from conversations.describe import form_as_dict, form_as_mermaid, form_as_text
    from conversations.registry import FORMS

    settings = _settings(ctx)
    tr = Catalogs(settings.locales_dir, settings.default_locale).translator(locale or settings.default_locale)
    if as_json:
        click.echo(json.dumps([form_as_dict(f, tr) for f in FORMS.values()], ensure_ascii=False, indent=2))
    elif mermaid:
        for form in FORMS.values():
            click.echo(f"%% {form.id}\n{form_as_mermaid(form, tr)}")
    else:
        click.echo("\n\n".join(form_as_text(f, tr) for f in FORMS.values()))


@main.group("warnings")
def warnings_group() -> None:
    """Early warnings: CAP 1.2 export and import."""


def _catalogs(settings: Settings) -> Any:
    from bot.telegram.i18n import Catalogs

    return Catalogs(settings.locales_dir, settings.default_locale)


def _config(settings: Settings) -> Any:
    from bot.usecases.common import Config

    return Config(
        tz=settings.tz,
        default_locale=settings.default_locale,
        policy=settings.policy(),
        dispatch=settings.dispatch_policy(),
        warnings=settings.warning_policy(),
        cap_sender=settings.cap_sender,
        summary_at=settings.summary_time(),
        table_limits=settings.table_limits(),
    )


@warnings_group.command("export-cap")
@click.argument("ref")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None, help="File (default: stdout)")
@click.pass_context
def export_cap(ctx: click.Context, ref: str, out_path: str | None) -> None:
    """Write warning REF (YJ-… or id) as CAP 1.2 XML, checked against the OASIS schema first."""
    from bot.domain import cap
    from bot.usecases.warnings import cap_message

    settings = _settings(ctx)
    config, catalogs = _config(settings), _catalogs(settings)
    message = _with_repos(settings, lambda r: cap_message(r, ref, settings.cap_sender, config))
    if message is None:
        click.echo(f"error: no warning {ref!r}", err=True)
        sys.exit(1)
    data = cap.to_xml(message, settings.tz, {"zh-CN": catalogs.translator("zh_Hans"), "en": catalogs.translator("en")})
    cap.validate(cap.parse_tree(data))  # never hand out a file the schema refuses
    if out_path:
        with open(out_path, "wb") as f:
            f.write(data)
        click.echo(f"{message.identifier} written to {out_path}", err=True)
    else:
        sys.stdout.buffer.write(data)


@warnings_group.command("import-cap")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--by", "by", required=True, type=int, help="Telegram id of the publisher who submits it")
@click.option("--unit", "units", required=True, multiple=True, help="Unit code to send to (repeat for several)")
@click.option("--no-subunits", is_flag=True, help="Only the units named, not the units below them")
@click.option("--role", "roles", multiple=True, help="Only people with this role (repeat; default: everyone)")
@click.option("--no-groups", is_flag=True, help="Not to the units' duty groups")
@click.pass_context
def import_cap(
    ctx: click.Context,
    path: str,
    by: int,
    units: tuple[str, ...],
    no_subunits: bool,
    roles: tuple[str, ...],
    no_groups: bool,
) -> None:
    """Submit the CAP 1.2 file PATH as a new warning: red and orange wait for another publisher's approval
    (the running bot sends them the request), the others are published at once."""
    import secrets

    from bot.domain import cap
    from bot.telegram.warnings import approval_request
    from bot.usecases.common import AdminError, require_unit
    from bot.usecases.warnings import bulletin_of, import_cap, is_publisher
    from storage.outbox import OutboxStore

    settings = _settings(ctx)
    config, catalogs = _config(settings), _catalogs(settings)
    with open(path, "rb") as f:
        data = f.read(cap.MAX_BYTES + 1)

    async def work(repos: Any) -> Any:
        user = await repos.users.by_telegram_id(by)
        if not is_publisher(user):
            raise AdminError(f"{by} is not a registered publisher")
        unit_ids = [(await require_unit(repos, code)).id for code in units]
        targets = {"units": unit_ids, "subunits": not no_subunits, "roles": list(roles), "groups": not no_groups}
        try:
            filed = await import_cap(repos, user, data, targets, config, f"cap-{secrets.token_hex(6)}")
        except cap.CapError as exc:
            raise AdminError(f"invalid CAP file: <{exc.element}> {exc.reason}") from None
        if filed.state == "pending":  # the approvers' requests, sent by the running bot from the outbox
            from bot.telegram.notifier import Outgoing

            b = await bulletin_of(repos, filed.warning_id)
            payloads = []
            for approver in filed.approvers:
                tr = catalogs.translator(approver.locale or settings.default_locale)
                text, markup = approval_request(
                    b.warning_id, b.number, b.fields, b.msg_type, user.name, None, None, tr, settings.tz, filed.reach
                )
                payloads.append(
                    Outgoing(
                        "send_message", {"chat_id": approver.telegram_id, "text": text, "reply_markup": markup}
                    ).to_json()
                )
            await OutboxStore(None).save(repos.session, payloads)  # type: ignore[arg-type]
        return filed

    filed = _with_repos(settings, work)
    if filed.state == "pending":
        click.echo(f"{filed.number} submitted; waiting for approval by {len(filed.approvers)} publisher(s)")
    else:
        click.echo(f"{filed.number} published to {filed.recipients} recipients (the running bot sends it)")


@admin.command("add-linked-unit")
@click.option("--unit", "unit_code", required=True, help="The unit's code (a new one for an outside agency)")
@click.option("--kind", required=True, help="police, fire, traffic, health, power, water, gas, telecom, other")
@click.option("--tier", required=True, help="first (arrive within 30 min) or other (40 min)")
@click.option("--name", default=None, help="An outside agency: the name of the unit made for it")
@click.option("--parent", default=None, help="An outside agency: the code of the office that orders it out")
@click.pass_context
def add_linked_unit_cmd(
    ctx: click.Context, unit_code: str, kind: str, tier: str, name: str | None, parent: str | None
) -> None:
    """Register a linked unit (联动成员单位) that duty offices order out with /dispatch."""
    from bot.usecases.dispatch import add_linked_unit

    settings = _settings(ctx)
    policy = _config(settings).dispatch
    linked = _with_repos(settings, lambda r: add_linked_unit(r, "cli", unit_code, kind, tier, policy, name, parent))
    click.echo(f"linked unit {unit_code} registered ({linked.kind}, tier {linked.tier})")


@admin.command("import-linked-units")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def import_linked_units_cmd(ctx: click.Context, path: str) -> None:
    """Register linked units from a CSV or XLSX (columns: code, name, parent, kind, tier): every bad row is named;
    with any, nothing is stored."""
    from bot.usecases.common import AdminError
    from bot.usecases.dispatch import import_linked_units

    settings = _settings(ctx)
    config = _config(settings)
    with open(path, "rb") as f:
        data = f.read()

    async def work(repos: Any) -> Any:
        result = await import_linked_units(repos, "cli", data, path.rsplit("/", 1)[-1], config)
        if result.problems:
            raise AdminError("nothing imported:\n" + "\n".join(text for *_rest, text in result.problems))
        return result

    result = _with_repos(settings, work)
    click.echo(f"{len(result.added)} linked units registered: {', '.join(result.added)}")


@admin.command("import-roster")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def import_roster_cmd(ctx: click.Context, path: str) -> None:
    """Import the duty roster from a CSV or XLSX file: every bad row is named; with any, nothing is imported."""
    from bot.usecases.roster import import_roster

    settings = _settings(ctx)
    config, catalogs = _config(settings), _catalogs(settings)
    with open(path, "rb") as f:
        data = f.read()
    result = _with_repos(settings, lambda r: import_roster(r, "cli", data, path.rsplit("/", 1)[-1], config))
    from bot.telegram.roster import import_text

    text = import_text(result, catalogs.translator(settings.default_locale))
    if result.problems:
        click.echo(text, err=True)
        sys.exit(1)
    click.echo(text)


@main.command("export")
@click.option("--from", "first", required=True, help="First local day, YYYY-MM-DD")
@click.option("--to", "last", required=True, help="Last local day, YYYY-MM-DD (included)")
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx", show_default=True)
@click.option("--unit", "unit_code", default=None, help="Only this unit and the units below it (default: all)")
@click.option(
    "--out",
    "out_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="File to write (default: kuaibao-FROM-TO.xlsx, or .zip of CSV files)",
)
@click.option("--locale", default=None, help="Language of the headers and labels (default: DEFAULT_LOCALE)")
@click.pass_context
def export_cmd(
    ctx: click.Context, first: str, last: str, fmt: str, unit_code: str | None, out_path: str | None, locale: str | None
) -> None:
    """Export incidents, reports, timeliness, the duty ledger and the half-year/annual table by category:
    XLSX (one sheet each) or CSV (UTF-8 with BOM, one file each, in a ZIP). Written as it is read."""
    from pathlib import Path

    from bot.domain.clock import utcnow
    from bot.domain.stats import PeriodError, period_of
    from bot.usecases.common import AdminError
    from bot.usecases.stats import export_name, record_export, write_export

    settings = _settings(ctx)
    try:
        period = period_of(f"{first}..{last}", utcnow(), settings.tz)
    except PeriodError as exc:
        click.echo(f"error: --from/--to: {exc.reason} (YYYY-MM-DD, --from not after --to, at most 3 years)", err=True)
        sys.exit(1)
    catalogs = _catalogs(settings)
    tr = catalogs.translator(locale or settings.default_locale)
    path = Path(out_path or export_name(period, fmt))

    async def work(repos: Any) -> Any:
        unit_id = None
        if unit_code is not None:
            unit = await repos.units.by_code(unit_code)
            if unit is None:
                raise AdminError(f"no unit with code {unit_code!r}")
            unit_id = unit.id
        await record_export(repos, "cli", unit_id, period, fmt, "cli")
        return await write_export(repos, unit_id, period.start, period.end, fmt, path, tr, settings.tz, utcnow())

    done = _with_repos(settings, work)
    counts = ", ".join(f"{name} {n}" for name, n in done.rows.items())
    click.echo(f"{path} ({path.stat().st_size} bytes): {counts}")
