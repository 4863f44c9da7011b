"""``tapdesk reader check`` and ``tapdesk tap``: find out why a reader does not read, and tap an
emulated band from another terminal."""

from __future__ import annotations

import os
import queue
import select
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from hardware.base import ReaderState, Tap
from hardware.emulator import DEFAULT_HOLD_S
from hardware.factory import EMULATOR_HOST, make_reader
from hardware.nfc import find_usb_devices, libusb_version
from hardware.spec import DEFAULT_EMULATOR_PORT, ReaderSpec
from hardware.uid import normalise_uid
from hardware.wedge import parse_wedge

__all__ = ["CheckResult", "TapNotDelivered", "check_reader", "send_tap"]

_STOP_GRACE_S = 2.0
"""How long to wait for the reader thread after the check (it returns within 1.5 s)."""
_REPLY_TIMEOUT_S = 1.0
"""How long ``send_tap`` waits for the emulator's OK."""
_SAMPLE_UID = "04A1B2C3D4E580"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of ``tapdesk reader check``."""

    ok: bool
    """True when a band was read (or, for the simulated reader, nothing could go wrong)."""
    lines: list[str] = field(default_factory=list)
    """What was found, one line each, for the terminal."""
    uid: str | None = None
    """The band read, if any."""
    seconds: float | None = None
    """How long after the reader was ready the band was read."""


class TapNotDelivered(RuntimeError):
    """``tapdesk tap`` could not reach a tag emulator, or it refused the band; the message says
    what to do."""


def check_reader(
    spec: ReaderSpec,
    timeout: float,
    *,
    say: Callable[[str], None] | None = None,
    stdin: TextIO | None = None,
) -> CheckResult:
    """Check the reader ``spec``: list the USB readers, open it, wait for one band.

    Args:
        spec: The ``--reader`` value.
        timeout: Seconds to wait for a band once the reader is ready.
        say: Called with each line as soon as it is known (the lines are also in the result), so
            that "place a band" appears before the wait.
        stdin: Where a keyboard-wedge reader types (``sys.stdin`` by default).

    Returns:
        ``ok`` is True when a band was read within ``timeout``.
    """
    lines: list[str] = []

    def emit(line: str) -> None:
        lines.append(line)
        if say is not None:
            say(line)

    if spec.kind == "sim":
        emit("The simulated reader has no hardware: nothing to check.")
        return CheckResult(True, lines)
    if spec.kind == "wedge":
        return _check_wedge(timeout, emit, lines, stdin or sys.stdin)
    if spec.kind == "nfc":
        _describe_usb(spec, emit)
    elif spec.kind == "emulated":
        emit(
            f"Emulated reader on {EMULATOR_HOST}:{spec.port}. From another terminal, tap a band: "
            f"tapdesk tap {_SAMPLE_UID} --port {spec.port}"
        )
    return _wait_for_tap(spec, timeout, emit, lines)


def _describe_usb(spec: ReaderSpec, emit: Callable[[str], None]) -> None:
    import nfc

    version = libusb_version()
    emit(f"nfcpy {nfc.__version__}; libusb {version or 'missing'}")
    if not spec.path.startswith("usb"):
        return
    if version is None:
        emit("USB devices: not listed, libusb is missing (sudo apt install libusb-1.0-0).")
        return
    try:
        devices = find_usb_devices("usb")
    except Exception as exc:  # libusb has errors of its own; the listing is only a hint
        emit(f"USB devices: could not list them ({exc}).")
        return
    readers = [d for d in devices if d.name is not None]
    if readers:
        emit("USB readers:")
        for device in readers:
            emit(f"  {device.path}  {device.ids}  {device.name}")
    elif not os.path.isdir("/dev/bus/usb"):
        emit("USB readers: none; this system shows no USB devices (/dev/bus/usb is missing).")
    else:
        emit(
            f"USB readers: none among {len(devices)} USB devices (nfcpy drives the Sony RC-S380, "
            "SCL3711/PN533 and ACR122U; a PN532 on serial is nfc:tty:USB0:pn532)."
        )


def _wait_for_tap(
    spec: ReaderSpec, timeout: float, emit: Callable[[str], None], lines: list[str]
) -> CheckResult:
    reader = make_reader(spec, debounce_s=0.0)
    stop = threading.Event()
    events: queue.Queue[Tap | ReaderState | None] = queue.Queue()

    def run() -> None:
        # The reader runs in a thread of its own, as in the App, so that ctrl+c reaches the main
        # thread here instead of being swallowed by nfcpy's connect().
        try:
            for event in reader.events(stop):
                events.put(event)
        except Exception as exc:
            events.put(ReaderState("error", f"The reader failed: {exc!r}"))
        finally:
            events.put(None)

    thread = threading.Thread(target=run, name="reader-check", daemon=True)
    thread.start()
    ready_at: float | None = None
    try:
        emit(f"Opening {spec} …")
        while True:
            wait = None if ready_at is None else ready_at + timeout - time.monotonic()
            if wait is not None and wait <= 0:
                emit(f"No band was read within {timeout:g} s.")
                return CheckResult(False, lines)
            try:
                event = events.get(timeout=wait)
            except queue.Empty:
                continue
            if event is None:
                emit("The reader stopped.")
                return CheckResult(False, lines)
            if isinstance(event, Tap):
                seconds = time.monotonic() - (ready_at or time.monotonic())
                emit(f"Read band {event.uid} {seconds:.2f} s after the reader was ready.")
                return CheckResult(True, lines, uid=event.uid, seconds=seconds)
            if event.ok:
                ready_at = time.monotonic()
                emit(f"Reader ready: {event.detail or spec}.")
                emit(f"Place a band on the reader (waiting up to {timeout:g} s) …")
                continue
            emit(f"Reader problem [{event.code}]:")
            for text in event.detail.splitlines() or [event.code]:
                emit(f"  {text}")
            return CheckResult(False, lines)
    finally:
        stop.set()
        thread.join(_STOP_GRACE_S)


def _check_wedge(
    timeout: float, emit: Callable[[str], None], lines: list[str], stdin: TextIO
) -> CheckResult:
    emit("A keyboard-wedge reader types the band's UID, then Enter, into the focused window.")
    if not stdin.isatty():
        emit("Standard input is not a terminal: run the check in a terminal and scan into it.")
        return CheckResult(False, lines)
    emit(f"Scan a band now (waiting up to {timeout:g} s) …")
    started = time.monotonic()
    readable, _w, _x = select.select([stdin], [], [], timeout)
    if not readable:
        emit(f"Nothing was typed within {timeout:g} s.")
        return CheckResult(False, lines)
    typed = stdin.readline().strip()
    seconds = time.monotonic() - started
    read = parse_wedge(typed)
    if read.kind == "uid" and read.uid is not None:
        order = "as typed" if read.source == "hex" else "little-endian decimal"
        emit(f"Read band {read.uid} ({order}; reversed: {read.candidates[-1]}).")
        return CheckResult(True, lines, uid=read.uid, seconds=seconds)
    if read.kind == "truncated":
        emit(
            f"The reader typed only the first 3 bytes of a 7-byte UID ({read.prefix}…): it stops "
            "after the first cascade level. Such reads are matched by prefix and refused when "
            "two bands share it; a reader that types the whole UID is better."
        )
        return CheckResult(True, lines, uid=None, seconds=seconds)
    emit(f"{typed!r} is not a band UID.")
    return CheckResult(False, lines)


def send_tap(
    uid: str,
    host: str = EMULATOR_HOST,
    port: int = DEFAULT_EMULATOR_PORT,
    hold_s: float = DEFAULT_HOLD_S,
) -> str:
    """Tap band ``uid`` on a running tag emulator (``tapdesk demo --reader emulated[:PORT]``).

    Args:
        uid: A 7-byte UID in hex (separators and a Russian layout are fine).
        host: Where the emulator runs.
        port: The emulator's port, as in ``--reader emulated:PORT``; its control port is
            ``port + 1``.
        hold_s: How long the band stays on the reader.

    Returns:
        The normalised UID tapped.

    Raises:
        ValueError: ``uid`` is not a 7-byte UID or ``hold_s`` is out of range.
        TapNotDelivered: No emulator answered, or it refused the command.
    """
    normalised = normalise_uid(uid)
    if normalised is None or len(normalised) != 14:
        raise ValueError(f"{uid!r} is not a 7-byte band UID such as {_SAMPLE_UID}")
    if not 0 < hold_s <= 60:
        raise ValueError("hold a band between 0 and 60 seconds")
    control = (host, port + 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(_REPLY_TIMEOUT_S)
        try:
            # A connected UDP socket hears the "port unreachable" answer, so a missing emulator
            # fails at once on this machine instead of after the time-out.
            sock.connect(control)
            sock.send(f"TAP {normalised} {hold_s:g}".encode("ascii"))
            reply = sock.recv(512).decode("utf-8", errors="replace")
        except OSError as exc:  # TimeoutError included
            raise TapNotDelivered(
                f"No tag emulator answers on {host}:{port + 1} ({_reason(exc)}). Start a station "
                f"with one: tapdesk demo --reader emulated:{port}"
            ) from exc
    if reply != "OK":
        raise TapNotDelivered(f"The emulator refused the band: {reply.removeprefix('ERR ')}")
    return normalised


def _reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer"
    return exc.strerror or str(exc)
