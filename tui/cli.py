"""The command line: ``tapdesk [global flags] [command]``.

This is the composition root. It reads the settings, installs the language *before* importing
any screen (Textual builds key-binding labels when a class is defined), opens the store and the
reader, and hands them to :class:`tui.app.TapdeskApp`. Global flags work before or after the
command.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hardware import Reader, parse_reader_spec
from store.errors import ConfigurationError, DomainError
from store.i18n import LANGUAGES, _, set_language
from tui.settings import ROLES, Settings, SettingsError, default_config_path, load_settings

if TYPE_CHECKING:
    from store.service import Store

__all__ = ["main"]

log = logging.getLogger("tapdesk.cli")

#: Global flags and the settings field each one sets.
GLOBAL_FLAGS = ("role", "station", "staff", "reader", "db", "lang", "event_file", "data_dir")


class CliError(Exception):
    """A problem to print in one line, with the exit code to use."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _early_language(argv: Sequence[str]) -> tuple[str, Path]:
    """The language and settings file, read before the full parser (its help is translated)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--lang")
    pre.add_argument("--config")
    known, _rest = pre.parse_known_args(argv)
    config = Path(known.config or os.environ.get("TAPDESK_CONFIG") or default_config_path())
    lang = known.lang or os.environ.get("TAPDESK_LANG")
    if not lang and config.is_file():
        try:
            lang = tomllib.loads(config.read_text(encoding="utf-8")).get("lang")
        except (tomllib.TOMLDecodeError, OSError):
            lang = None  # load_settings reports the broken file with its path
    if lang not in LANGUAGES:
        lang = "en"
    return str(lang), config


def _global_options() -> argparse.ArgumentParser:
    # default=SUPPRESS: a flag given before the command is not overwritten by the subparser's
    # default when the same flag is absent after it.
    parent = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = parent.add_argument_group(_("station options (before or after the command)"))
    group.add_argument(
        "--role", choices=ROLES, help=_("the station's role; a picker appears without it")
    )
    group.add_argument(
        "--station", metavar="NAME", help=_("this laptop's name in every record, e.g. desk-2")
    )
    group.add_argument("--staff", metavar="NAME", help=_("who acts, for command-line commands"))
    group.add_argument(
        "--reader", metavar="SPEC", help=_("sim, wedge, emulated[:PORT] or nfc:PATH (e.g. nfc:usb)")
    )
    group.add_argument(
        "--db", metavar="URL", help=_("database URL (sqlite:///PATH or postgresql+psycopg://…)")
    )
    group.add_argument("--lang", choices=LANGUAGES, help=_("language of the user interface"))
    group.add_argument(
        "--event", dest="event_file", metavar="FILE", type=Path, help=_("the event's TOML file")
    )
    group.add_argument(
        "--data-dir", dest="data_dir", metavar="DIR", type=Path, help=_("where databases live")
    )
    group.add_argument("--config", metavar="FILE", help=_("the settings file (TOML)"))
    return parent


def build_parser() -> argparse.ArgumentParser:
    """The whole command-line grammar."""
    common = _global_options()
    parser = argparse.ArgumentParser(
        prog="tapdesk",
        description=_("The staff console of a conference where every attendee wears an NFC band."),
        parents=[common],
    )
    parser.set_defaults(handler=cmd_run)
    commands = parser.add_subparsers(title=_("commands"), metavar="COMMAND")

    def command(
        name: str, help_text: str, handler: Callable[[argparse.Namespace, Settings], int]
    ) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=[common])
        sub.set_defaults(handler=handler)
        return sub

    command("run", _("open the station (the default)"), cmd_run)
    demo = command(
        "demo", _("open the station on the demo event, with a simulated reader"), cmd_demo
    )
    demo.add_argument("--reset", action="store_true", help=_("rebuild the demo database first"))
    command("verify", _("check the ledger's invariants; exit 1 on any violation"), cmd_verify)

    db = command("db", _("database maintenance"), cmd_help(parser))
    db_commands = db.add_subparsers(title=_("database commands"), metavar="COMMAND")
    upgrade = db_commands.add_parser("upgrade", help=_("apply schema migrations"), parents=[common])
    upgrade.set_defaults(handler=cmd_db_upgrade)

    audit = command("audit", _("show the audit rows of one correlation id"), cmd_audit)
    audit.add_argument("correlation_id", help=_("the id from the log"))
    command("stations", _("list the stations and when each was last seen"), cmd_stations)

    reader = command("reader", _("NFC reader diagnostics"), cmd_help(parser))
    reader_commands = reader.add_subparsers(title=_("reader commands"), metavar="COMMAND")
    check = reader_commands.add_parser(
        "check", help=_("find the reader, open it and wait for one tap"), parents=[common]
    )
    check.set_defaults(handler=cmd_reader_check)
    check.add_argument("--timeout", type=float, default=15.0, help=_("seconds to wait for a tap"))
    tap = command("tap", _("place a band on a running emulated reader"), cmd_tap)
    tap.add_argument("uid", help=_("the band's UID (7 bytes of hex)"))
    tap.add_argument("--port", type=int, default=None, help=_("the emulator's port"))
    tap.add_argument("--hold", type=float, default=None, help=_("seconds the band stays on"))

    imports = command("import", _("import attendees or pre-event points"), cmd_help(parser))
    import_commands = imports.add_subparsers(title=_("import commands"), metavar="COMMAND")
    attendees = import_commands.add_parser(
        "attendees", help=_("import attendees from a CSV file"), parents=[common]
    )
    attendees.set_defaults(handler=cmd_import_attendees)
    attendees.add_argument("file", type=Path, help=_("the CSV file"))
    attendees.add_argument("--map", type=Path, help=_("a TOML file mapping columns to fields"))
    attendees.add_argument(
        "--column",
        action="append",
        default=[],
        metavar="HEADER=FIELD",
        help=_("map one column, e.g. --column 'ФИО=name' (repeatable)"),
    )
    points_import = import_commands.add_parser(
        "points", help=_("import points earned before the event"), parents=[common]
    )
    points_import.set_defaults(handler=cmd_import_points)
    points_import.add_argument("file", type=Path, help=_("the CSV file"))

    invites = command("invites", _("invitations"), cmd_help(parser))
    invite_commands = invites.add_subparsers(title=_("invitation commands"), metavar="COMMAND")
    export = invite_commands.add_parser(
        "export", help=_("write a QR code per attendee and a mail-merge CSV"), parents=[common]
    )
    export.set_defaults(handler=cmd_invites_export)
    export.add_argument("directory", type=Path, help=_("where to write them"))

    event = command("event", _("the event file"), cmd_help(parser))
    event_commands = event.add_subparsers(title=_("event commands"), metavar="COMMAND")
    load = event_commands.add_parser(
        "load", help=_("load the event file (again): reports what changed"), parents=[common]
    )
    load.set_defaults(handler=cmd_event_load)
    load.add_argument("file", nargs="?", type=Path, help=_("the TOML file (default: --event)"))
    load.add_argument("--check", action="store_true", help=_("only validate the file"))

    staff = command("staff", _("staff members"), cmd_help(parser))
    staff_commands = staff.add_subparsers(title=_("staff commands"), metavar="COMMAND")
    pin_hash = staff_commands.add_parser(
        "pin-hash", help=_("turn a PIN into the hash the event file holds"), parents=[common]
    )
    pin_hash.set_defaults(handler=cmd_staff_pin_hash)
    pin_hash.add_argument("--pin", help=_("the PIN (asked for when not given)"))

    credit = command("credit", _("pay in four: plans and instalments"), cmd_help(parser))
    credit_commands = credit.add_subparsers(title=_("credit commands"), metavar="COMMAND")
    credit_report = credit_commands.add_parser(
        "report", help=_("list open and overdue pay-in-four plans"), parents=[common]
    )
    credit_report.set_defaults(handler=cmd_credit_report)
    credit_report.add_argument("--json", action="store_true", help=_("print one JSON object"))
    credit_close = credit_commands.add_parser(
        "close",
        help=_("at the end of the event: collect or write off what is left, as transfers"),
        parents=[common],
    )
    credit_close.set_defaults(handler=cmd_credit_close)
    close_mode = credit_close.add_mutually_exclusive_group(required=True)
    close_mode.add_argument(
        "--collect",
        dest="close_mode",
        action="store_const",
        const="collect",
        help=_("take what each balance allows, then write off the rest"),
    )
    close_mode.add_argument(
        "--write-off",
        dest="close_mode",
        action="store_const",
        const="write-off",
        help=_("write off everything left (the issuer pays the credit account back)"),
    )
    coats_cmd = command("coats", _("the coat check"), cmd_help(parser))
    coat_commands = coats_cmd.add_subparsers(title=_("coat check commands"), metavar="COMMAND")
    reconcile = coat_commands.add_parser(
        "reconcile",
        help=_("move paper-tag coats onto hangers or close them, from a CSV file"),
        description=_(
            "Columns: paper tag, attendee code or e-mail, hanger (e.g. 'Rack A 17' or A-17) or "
            "'collected'. Prints what each row did; a row done before is skipped."
        ),
        parents=[common],
    )
    reconcile.set_defaults(handler=cmd_coats_reconcile)
    reconcile.add_argument("file", type=Path, help=_("the CSV file"))
    racks = coat_commands.add_parser("racks", help=_("how full every rack is"), parents=[common])
    racks.set_defaults(handler=cmd_coats_racks)
    rack_out = coat_commands.add_parser(
        "rack-out", help=_("mark a rack out of service (its coats stay findable)"), parents=[common]
    )
    rack_out.set_defaults(handler=cmd_coats_rack_out)
    rack_out.add_argument("rack", help=_("the rack's id or name"))
    rack_out.add_argument("--reason", required=True, help=_("why (it is audited)"))
    rack_in = coat_commands.add_parser(
        "rack-in", help=_("put a rack back in service"), parents=[common]
    )
    rack_in.set_defaults(handler=cmd_coats_rack_in)
    rack_in.add_argument("rack", help=_("the rack's id or name"))
    rack_in.add_argument("--reason", required=True, help=_("why (it is audited)"))
    drop = command("drop", _("live drops at the prize counter"), cmd_help(parser))
    drop_commands = drop.add_subparsers(title=_("drop commands"), metavar="COMMAND")
    drop_start = drop_commands.add_parser(
        "start",
        help=_("put a limited quantity of a prize on sale for a limited time"),
        parents=[common],
    )
    drop_start.set_defaults(handler=cmd_drop_start)
    drop_start.add_argument("prize", help=_("the prize's id in the event file, e.g. headphones"))
    drop_start.add_argument("--qty", type=int, required=True, help=_("units on sale"))
    drop_start.add_argument("--minutes", type=float, required=True, help=_("how long it runs"))
    drop_start.add_argument("--price", type=int, help=_("points per unit (default: its price)"))
    drop_list = drop_commands.add_parser(
        "list", help=_("every drop: units left, time left, state"), parents=[common]
    )
    drop_list.set_defaults(handler=cmd_drop_list)
    drop_close = drop_commands.add_parser(
        "close", help=_("end a running drop now"), parents=[common]
    )
    drop_close.set_defaults(handler=cmd_drop_close)
    drop_close.add_argument("id", type=int, help=_("the drop's number (see tapdesk drop list)"))

    bench = command("bench", _("benchmarks on throw-away databases"), cmd_help(parser))
    bench_commands = bench.add_subparsers(title=_("benchmarks"), metavar="BENCH")
    ledger = bench_commands.add_parser(
        "ledger", help=_("award latency and awards per second"), parents=[common]
    )
    ledger.set_defaults(handler=cmd_bench_ledger)
    ledger.add_argument("--json", action="store_true", help=_("print one JSON object"))
    ledger.add_argument(
        "--transfers", type=int, default=5_000_000, help=_("transfers already in the ledger")
    )
    ledger.add_argument("--seconds", type=float, default=5.0, help=_("length of each load run"))
    desk_bench = bench_commands.add_parser(
        "desk", help=_("import, search, check-in and bind at scale"), parents=[common]
    )
    desk_bench.set_defaults(handler=cmd_bench_desk)
    desk_bench.add_argument("--attendees", type=int, default=100_000, help=_("how many people"))
    desk_bench.add_argument("--json", action="store_true", help=_("print one JSON object"))
    coats_bench = bench_commands.add_parser(
        "coats", help=_("coat in and out latency with 2,000 coats in"), parents=[common]
    )
    coats_bench.set_defaults(handler=cmd_bench_coats)
    coats_bench.add_argument("--json", action="store_true", help=_("print one JSON object"))
    coats_bench.add_argument("--coats", type=int, default=2000, help=_("coats already in"))
    load_bench = bench_commands.add_parser(
        "load",
        help=_("N station processes running the event's mix at once, then verify"),
        parents=[common],
    )
    load_bench.set_defaults(handler=cmd_bench_load)
    load_bench.add_argument("--stations", type=int, default=8, help=_("station processes"))
    load_bench.add_argument("--seconds", type=float, default=10.0, help=_("length of the run"))
    load_bench.add_argument("--json", action="store_true", help=_("print one JSON object"))
    load_bench.add_argument(
        "--cut-at",
        type=float,
        metavar="S",
        help=_("PostgreSQL: cut every station's connections S seconds into the run"),
    )
    counter_bench = bench_commands.add_parser(
        "counter", help=_("redemption latency at the prize counter"), parents=[common]
    )
    counter_bench.set_defaults(handler=cmd_bench_counter)
    counter_bench.add_argument("--json", action="store_true", help=_("print one JSON object"))
    counter_bench.add_argument(
        "--redemptions", type=int, default=2000, help=_("redemptions to time")
    )
    return parser


def cmd_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace, Settings], int]:
    """A handler that prints the usage (for a command group given without its sub-command)."""

    def handler(_args: argparse.Namespace, _settings: Settings) -> int:
        parser.print_help()
        return 2

    return handler


# -- shared plumbing --------------------------------------------------------------------------


def open_store(url: str) -> Store:
    """Open (and migrate) the database at ``url``, or fail with a plain message."""
    from store.service import Store

    return Store.open(url)


def make_reader(spec_text: str, debounce_s: float = 2.0) -> Reader:
    """The reader for a ``--reader`` value (sim, wedge, emulated[:PORT] or nfc:PATH)."""
    from hardware.factory import make_reader as build_reader

    try:
        spec = parse_reader_spec(spec_text)
    except ValueError as exc:
        raise CliError(str(exc), code=2) from exc
    return build_reader(spec, debounce_s=debounce_s)


def run_app(
    settings: Settings,
    store: Store,
    reader: Reader,
    *,
    demo: bool,
    demo_pins: dict[str, str] | None = None,
) -> int:
    """Open the Textual App (imported only now: the language is installed)."""
    from store.outbox import Outbox
    from tui.app import TapdeskApp

    url = settings.demo_database_url if demo else settings.database_url
    outbox = Outbox(settings.outbox_path(url))
    app = TapdeskApp(
        store=store,
        reader=reader,
        station=settings.station,
        role=settings.role,
        demo=demo,
        event_name=store.event_name(),
        demo_pins=demo_pins,
        outbox=outbox,
    )
    try:
        app.run()
    finally:
        store.close()
        outbox.close()
    return app.return_code or 0


# -- commands ---------------------------------------------------------------------------------


def cmd_run(_args: argparse.Namespace, settings: Settings) -> int:
    reader = make_reader(settings.reader, settings.reader_debounce_s)
    return run_app(settings, open_store(settings.database_url), reader, demo=False)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from store.demo.build import build_demo

    if settings.db:
        print(_("The demo uses its own database; --db is ignored."), file=sys.stderr)
    path = settings.data_dir / "demo.sqlite"
    if args.reset:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    fresh = not path.exists()
    store = open_store(settings.demo_database_url)
    if fresh or store.event_name() is None:
        summary = build_demo(store)
        log.info("demo built", extra={"attendees": summary.attendees})
    from store.demo.pins import demo_pins

    reader_spec = getattr(args, "reader", None) or "sim"
    return run_app(
        settings,
        store,
        make_reader(reader_spec, settings.reader_debounce_s),
        demo=True,
        demo_pins=demo_pins(),
    )


def cmd_verify(_args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings.database_url)
    try:
        report = store.verify()
    finally:
        store.close()
    for line in report.violations:
        print(_("VIOLATION: {line}").format(line=line))
    if report.ok:
        print(_("OK: {checks}").format(checks="; ".join(report.checked)))
        return 0
    return 1


def cmd_db_upgrade(_args: argparse.Namespace, settings: Settings) -> int:
    from store.engine import make_database
    from store.migrate import head_revision, upgrade

    db = make_database(settings.database_url)
    try:
        db.check()
        applied = upgrade(db)
    finally:
        db.dispose()
    if applied:
        print(_("Schema upgraded to {revision}.").format(revision=head_revision()))
    else:
        print(_("Schema already up to date ({revision}).").format(revision=head_revision()))
    return 0


def cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    store = open_store(settings.database_url)
    try:
        rows = store.audit_trail(args.correlation_id)
    finally:
        store.close()
    for row in rows:
        print(json.dumps(row, ensure_ascii=False, default=str))
    if not rows:
        print(_("No audit rows for {id}.").format(id=args.correlation_id), file=sys.stderr)
        return 1
    return 0


def cmd_stations(_args: argparse.Namespace, settings: Settings) -> int:
    from zoneinfo import ZoneInfo

    from store.service import SILENT_AFTER

    store = open_store(settings.database_url)
    try:
        stations = store.stations()
        zone = ZoneInfo(store.event_timezone())
    finally:
        store.close()
    if not stations:
        print(_("No station has announced itself yet."))
        return 0
    print(
        f"{_('station'):<16} {_('role'):<8} {_('staff'):<22} {_('reader'):<12} "
        f"{_('last seen'):<9}  {_('state')}"
    )
    for s in stations:
        seen = s.last_seen.astimezone(zone).strftime("%H:%M:%S") if s.last_seen else "—"
        if s.last_seen is None:
            mark = _("SILENT (never announced itself: a command-line tool or a bench)")
        elif s.silent:
            mark = _("SILENT (nothing for over {seconds} s)").format(
                seconds=int(SILENT_AFTER.total_seconds())
            )
        else:
            mark = _("live")
        role, staff, reader = s.role or "—", s.staff or "—", s.reader_state or "—"
        print(f"{s.name:<16} {role:<8} {staff[:22]:<22} {reader[:12]:<12} {seen:<9}  {mark}")
    silent = sum(1 for s in stations if s.silent)
    print(
        _("{n} stations, {silent} silent; times in {zone}.").format(
            n=len(stations), silent=silent, zone=zone.key
        )
    )
    return 0


def cmd_reader_check(args: argparse.Namespace, settings: Settings) -> int:
    from hardware.diagnostics import check_reader

    try:
        spec = parse_reader_spec(settings.reader)
    except ValueError as exc:
        raise CliError(str(exc), code=2) from exc
    result = check_reader(spec, args.timeout, say=print)
    return 0 if result.ok else 1


def cmd_tap(args: argparse.Namespace, _settings: Settings) -> int:
    from hardware.diagnostics import TapNotDelivered, send_tap
    from hardware.emulator import DEFAULT_HOLD_S
    from hardware.spec import DEFAULT_EMULATOR_PORT

    try:
        send_tap(
            args.uid,
            port=args.port or DEFAULT_EMULATOR_PORT,
            hold_s=args.hold if args.hold is not None else DEFAULT_HOLD_S,
        )
    except ValueError as exc:
        raise CliError(str(exc), code=2) from exc
    except TapNotDelivered as exc:
        raise CliError(str(exc)) from exc
    print(_("Band {uid} placed on the emulated reader.").format(uid=args.uid))
    return 0


def _cli_actor(settings: Settings) -> Any:
    from store.context import Actor

    return Actor(station=settings.station, staff=settings.staff)


def print_rejected(rows: Sequence[Any]) -> None:
    """One line per rejected import row: where it is in the file and why."""
    for row in rows:
        print(
            _("line {line}: {reason} ({name} {email})").format(
                line=row.line, reason=row.reason, name=row.name or "—", email=row.email or "—"
            )
        )


def cmd_import_attendees(args: argparse.Namespace, settings: Settings) -> int:
    from store.imports import import_attendees, load_mapping

    mapping: dict[str, str] = load_mapping(args.map) if args.map else {}
    for item in args.column:
        header, sep, field = item.rpartition("=")
        if not sep or not header:
            raise CliError(_("--column takes HEADER=FIELD, not {item!r}.").format(item=item), 2)
        mapping[header] = field
    store = open_store(settings.database_url)
    shown = [-1]

    def progress(done: int, total: int) -> None:
        percent = done * 100 // max(total, 1)
        if percent // 10 != shown[0] // 10 or done == total:
            shown[0] = percent
            bar = "#" * (percent // 5)
            print(f"\r[{bar:<20}] {percent:3d}%  {done}/{total}", end="", file=sys.stderr)

    try:
        report = import_attendees(
            store, args.file, mapping=mapping or None, progress=progress, actor=_cli_actor(settings)
        )
    finally:
        store.close()
    print(file=sys.stderr)
    print(report.summary())
    print_rejected(report.rejected)
    return 0


def cmd_import_points(args: argparse.Namespace, settings: Settings) -> int:
    from store.imports import import_points

    store = open_store(settings.database_url)
    try:
        report = import_points(store, args.file, _cli_actor(settings))
    finally:
        store.close()
    print(report.summary())
    print_rejected(report.rejected)
    return 0


def cmd_invites_export(args: argparse.Namespace, settings: Settings) -> int:
    from store.invites import export_invites

    store = open_store(settings.database_url)
    try:
        report = export_invites(store, args.directory)
    finally:
        store.close()
    print(
        _(
            "{count} invitations written to {directory}; mail merge: {csv}; "
            "without e-mail: {missing}."
        ).format(
            count=report.invites,
            directory=report.directory,
            csv=report.csv_path,
            missing=report.without_email,
        )
    )
    return 0


def cmd_bench_desk(args: argparse.Namespace, _settings: Settings) -> int:
    from store.bench.desk import run_desk_bench

    figures = run_desk_bench(attendees=args.attendees)
    print_figures(figures, args.json)
    return 0 if figures.get("violations", 0) == 0 else 1


def cmd_bench_coats(args: argparse.Namespace, settings: Settings) -> int:
    from store.bench.coats import run_coats_bench

    figures = run_coats_bench(settings.db, coats=args.coats)
    print_figures(figures, args.json)
    return 0 if figures.get("violations", 0) == 0 else 1


def cmd_coats_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from store.coats import reconcile_file

    store = open_store(settings.database_url)
    try:
        report = reconcile_file(store, _cli_actor(settings), args.file)
    finally:
        store.close()
    for line in report.lines:
        print(line.message)
    print(report.summary())
    return 0 if report.count("error") == 0 else 1


def cmd_coats_racks(_args: argparse.Namespace, settings: Settings) -> int:
    from store.coats import occupancy

    store = open_store(settings.database_url)
    try:
        state = occupancy(store)
    finally:
        store.close()
    for rack in state.racks:
        notes = []
        if rack.out_of_service:
            notes.append(
                _("OUT OF SERVICE since {time}: {reason}").format(
                    time=rack.out_of_service_local or "?", reason=rack.out_of_service_reason
                )
            )
        elif rack.full:
            notes.append(_("FULL"))
        elif rack.warn:
            notes.append(_("almost full"))
        if not rack.active:
            notes.append(_("no longer in the event file"))
        if rack.rack_id == state.filling:
            notes.append(_("filling now"))
        print(
            f"{rack.rack_id:<12} {rack.name:<16} {rack.held:>5}/{rack.capacity:<5} "
            f"{rack.percent:>3} %  {'; '.join(notes)}".rstrip()
        )
    print(_("Coats on paper tags only: {n}").format(n=state.paper_held))
    return 0


def _rack_service(args: argparse.Namespace, settings: Settings, out: bool) -> int:
    from store.coats import rack_back_in_service, rack_out_of_service

    store = open_store(settings.database_url)
    try:
        change = rack_out_of_service if out else rack_back_in_service
        state = change(store, _cli_actor(settings), args.rack, args.reason)
    finally:
        store.close()
    if state.out_of_service:
        print(
            _(
                "{rack} is out of service; its {n} coats stay findable by band, name or hanger."
            ).format(rack=state.name, n=state.held)
        )
    else:
        print(_("{rack} is back in service.").format(rack=state.name))
    return 0


def cmd_coats_rack_out(args: argparse.Namespace, settings: Settings) -> int:
    return _rack_service(args, settings, out=True)


def cmd_coats_rack_in(args: argparse.Namespace, settings: Settings) -> int:
    return _rack_service(args, settings, out=False)


def cmd_event_load(args: argparse.Namespace, settings: Settings) -> int:
    from store.context import Actor
    from store.eventfile import load_event, parse_event_file

    path = args.file or settings.event_file
    if path is None:
        raise CliError(_("Which event file? Give it: tapdesk event load FILE"), code=2)
    spec = parse_event_file(path)
    if args.check:
        print(_("{file}: valid.").format(file=path))
        return 0
    store = open_store(settings.database_url)
    try:
        report = load_event(store, spec, Actor(station=settings.station, staff=settings.staff))
    finally:
        store.close()
    print(report.summary())
    return 0


def cmd_credit_report(args: argparse.Namespace, settings: Settings) -> int:
    from store import codec, credit

    store = open_store(settings.database_url)
    try:
        found = credit.report(store)
        zone = store.event_timezone()
    finally:
        store.close()
    if args.json:
        print(codec.dump(found))
        return 0
    from store.desk import local_time

    if not found.lines:
        print(_("No open pay-in-four plan."))
    for line in found.lines:
        state = (
            _("OVERDUE {points}").format(points=line.overdue)
            if line.overdue
            else _("next due {time}").format(time=local_time(line.next_due_at, zone))
        )
        print(
            _(
                "plan {plan}  {name} ({code})  {prize}  price {price}  paid {paid}  owes {owed}"
                "  {state}"
            ).format(
                plan=line.plan_id,
                name=line.name,
                code=line.code,
                prize=line.prize_name,
                price=line.price,
                paid=line.paid,
                owed=line.owed,
                state=state,
            )
        )
    print(
        _("Open plans: {plans}; owed {owed} points, of which {overdue} overdue.").format(
            plans=len(found.lines), owed=found.owed, overdue=found.overdue
        )
    )
    return 0


def cmd_credit_close(args: argparse.Namespace, settings: Settings) -> int:
    from store import credit
    from store.context import Actor

    store = open_store(settings.database_url)
    try:
        done = credit.close_all(
            store, Actor(station=settings.station, staff=settings.staff), args.close_mode
        )
    finally:
        store.close()
    print(
        _(
            "Closed {plans} plans: {collected} points collected, {written} points written off."
        ).format(plans=done.plans, collected=done.collected, written=done.written_off)
    )
    return 0


def cmd_staff_pin_hash(args: argparse.Namespace, _settings: Settings) -> int:
    import getpass

    from store.security import hash_pin

    pin = args.pin
    if pin is None:
        if sys.stdin.isatty():
            pin = getpass.getpass(_("PIN: "))
            if getpass.getpass(_("PIN again: ")) != pin:
                raise CliError(_("The two PINs differ; nothing was printed."))
        else:
            pin = sys.stdin.readline().strip()
    try:
        print(hash_pin(pin))
    except ValueError as exc:
        raise CliError(str(exc), code=2) from exc
    return 0


def print_figures(figures: dict[str, Any], as_json: bool) -> None:
    """A benchmark's figures as one JSON object or an aligned table."""
    if as_json:
        print(json.dumps(figures))
        return
    width = max(len(key) for key in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")


def cmd_bench_load(args: argparse.Namespace, settings: Settings) -> int:
    from store.bench.load import run_load

    if args.stations < 1 or args.seconds <= 0:
        raise CliError(_("--stations and --seconds must be more than zero."), code=2)
    figures = run_load(
        settings.db, stations=args.stations, seconds=args.seconds, cut_at_s=args.cut_at
    )
    if not args.json:
        figures.pop("per_kind", None)
    print_figures(figures, args.json)
    return 0 if figures["violations"] == 0 and figures["user_errors"] == 0 else 1


def cmd_bench_ledger(args: argparse.Namespace, settings: Settings) -> int:
    from store.bench.ledger import run_ledger_bench

    figures = run_ledger_bench(settings.db, transfers=args.transfers, seconds=args.seconds)
    print_figures(figures, args.json)
    return 0 if figures["violations"] == 0 else 1


def _drop_line(line: Any, zone: str) -> str:
    from zoneinfo import ZoneInfo

    from store.counter import drop_state_text

    ends = (line.closed_at or line.ends_at).astimezone(ZoneInfo(zone)).strftime("%H:%M")
    head = _("#{id} {prize}: {sold} of {quantity} sold, {price} points").format(
        id=line.id,
        prize=line.prize_name,
        sold=line.taken,
        quantity=line.quantity,
        price=line.price,
    )
    if line.running:
        left = int(line.seconds_left)
        return (
            head
            + ", "
            + _("{left} left ({held} on hold), ends {ends} ({minutes}:{seconds:02d} left)").format(
                left=line.left, held=line.held, ends=ends, minutes=left // 60, seconds=left % 60
            )
        )
    if line.state == "sold_out":
        return head + ", " + _("sold out (its time ends {ends})").format(ends=ends)
    return head + ", " + _("{state} at {ends}").format(state=drop_state_text(line.state), ends=ends)


def cmd_drop_start(args: argparse.Namespace, settings: Settings) -> int:
    from store.counter import start_drop

    store = open_store(settings.database_url)
    try:
        line = start_drop(
            store, _cli_actor(settings), args.prize, args.qty, args.minutes, args.price
        )
        zone = store.event_timezone()
    finally:
        store.close()
    print(_("Drop started: {line}").format(line=_drop_line(line, zone)))
    return 0


def cmd_drop_list(_args: argparse.Namespace, settings: Settings) -> int:
    from store.counter import drops

    store = open_store(settings.database_url)
    try:
        lines = drops(store)
        zone = store.event_timezone()
    finally:
        store.close()
    for line in lines:
        print(_drop_line(line, zone))
    if not lines:
        print(_("No drops yet: tapdesk drop start PRIZE --qty N --minutes M"))
    return 0


def cmd_drop_close(args: argparse.Namespace, settings: Settings) -> int:
    from store.counter import close_drop

    store = open_store(settings.database_url)
    try:
        line = close_drop(store, _cli_actor(settings), args.id)
        zone = store.event_timezone()
    finally:
        store.close()
    print(_("Drop closed: {line}").format(line=_drop_line(line, zone)))
    return 0


def cmd_bench_counter(args: argparse.Namespace, settings: Settings) -> int:
    from store.bench.counter import run_counter_bench

    figures = run_counter_bench(settings.db, redemptions=args.redemptions)
    print_figures(figures, args.json)
    return 0 if figures["violations"] == 0 else 1


# -- entry point ------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tapdesk``; returns the exit code."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    lang, config = _early_language(args_list)
    set_language(lang)
    parser = build_parser()
    args = parser.parse_args(args_list)
    flags: dict[str, Any] = {
        name: getattr(args, name) for name in GLOBAL_FLAGS if hasattr(args, name)
    }
    try:
        settings = load_settings(flags, config)
        from store.logs import setup_logging

        setup_logging(settings.log_dir, settings.station)
        handler: Callable[[argparse.Namespace, Settings], int] = args.handler
        return handler(args, settings)
    except SettingsError as exc:
        print(f"tapdesk: {exc}", file=sys.stderr)
        return 2
    except CliError as exc:
        print(f"tapdesk: {exc}", file=sys.stderr)
        return exc.code
    except ConfigurationError as exc:
        print(f"tapdesk: {exc.message}", file=sys.stderr)
        return 2
    except DomainError as exc:
        print(f"tapdesk: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        # A person never sees a traceback: the log has it, the terminal gets one line.
        log.exception("unexpected error")
        print(
            _(
                "tapdesk: unexpected error ({error}). The details are in the log; please report it."
            ).format(error=type(exc).__name__),
            file=sys.stderr,
        )
        return 1


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
