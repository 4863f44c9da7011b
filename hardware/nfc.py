"""Real NFC readers through nfcpy: USB (Sony RC-S380, SCL3711), serial (PN532) and nfcpy's UDP
radio simulation (which the tests drive with :mod:`hardware.emulator`).

:class:`NfcReader` owns one ``nfc.ContactlessFrontend`` for as long as :meth:`NfcReader.events`
runs, in the thread that iterates it (the App's reader worker): it opens the device, closes it in
a ``finally`` in that same thread, and never touches it from another one (``clf.close()`` from
another thread blocks on nfcpy's lock and then surfaces as an I/O error). Stopping is cooperative
through nfcpy's ``terminate`` callback, which nfcpy checks between polling rounds.

Open failures are turned into a :class:`~hardware.base.ReaderState` with a stable code and a
plain-language detail that says how to fix it (:func:`explain_open_error`):

=================  ==========================================================================
code               meaning
=================  ==========================================================================
``ready``          the reader is open and polling
``libusb_missing`` the system's libusb-1.0 is not installed
``no_device``      no reader on that path (or it was unplugged)
``busy``           pcscd or a kernel NFC driver holds the reader
``permission``     the user may not open the device (udev rule, dialout group)
``error``          anything else, including a reader that stopped answering
=================  ==========================================================================
"""

from __future__ import annotations

import errno
import logging
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from hardware.base import ReaderState, Tap

__all__ = [
    "BACKOFF_FIRST_S",
    "BACKOFF_MAX_S",
    "READER_CODES",
    "SUPPORTED_USB_READERS",
    "NfcReader",
    "ProbeResult",
    "UsbDevice",
    "explain_io_error",
    "explain_open_error",
    "find_usb_devices",
    "libusb_version",
    "probe_usb",
    "udev_rule",
    "usb_device_node",
]

log = logging.getLogger("tapdesk.hardware.nfc")

READER_CODES = ("ready", "libusb_missing", "no_device", "busy", "permission", "error")
"""Every ``ReaderState.code`` this module reports."""

BACKOFF_FIRST_S = 0.5
"""Wait before the first reopen after a failure; doubles on every failure after it."""
BACKOFF_MAX_S = 5.0
"""The longest wait between two attempts to reopen the reader."""
POLL_INTERVAL_S = 0.1
"""Pause between sense attempts within a polling round (nfcpy's ``interval``)."""
USB_ITERATIONS = 3
"""Sense attempts per polling round on real readers: nfcpy checks ``terminate`` between rounds, so
a round of 3 × 0.1 s keeps ctrl+q well under a second; with 1 nfcpy would poll without pausing."""
UDP_ITERATIONS = 1
"""Over UDP every unanswered sense already waits 1.0 s: one per round, or stopping takes longer."""
PRESENCE_CHECK_S = 0.1
"""How often a band that stays on the reader is checked (what nfcpy itself does)."""

SUPPORTED_USB_READERS: dict[tuple[int, int], str] = {
    (0x054C, 0x0193): "Sony PN531",
    (0x04CC, 0x0531): "Philips PN531 / SCM SCL3710",
    (0x04CC, 0x2533): "NXP PN533 demo board",
    (0x04E6, 0x5591): "SCM SCL3711 (PN533)",
    (0x04E6, 0x5593): "SCM SCL3712 (PN533)",
    (0x054C, 0x02E1): "Sony RC-S330/360/370",
    (0x054C, 0x06C1): "Sony RC-S380",
    (0x054C, 0x06C3): "Sony RC-S380",
    (0x072F, 0x2200): "ACS ACR122U (works, but nfcpy advises against it)",
}
"""USB readers nfcpy 1.0.4 has a driver for (its ``usb_device_map``), with a name for people."""
_ACS_VENDOR = 0x072F
"""ACS: of its readers only the ACR122U speaks to nfcpy; the others (ACR1252U…) need PC/SC."""

_NFCPY_LOGGER = "nfc.clf"


@dataclass(frozen=True, slots=True)
class UsbDevice:
    """A USB device as libusb lists it."""

    vendor: int
    product: int
    bus: int
    address: int

    @property
    def ids(self) -> str:
        """``VID:PID`` in lower-case hex, as lsusb prints it (``054c:06c3``)."""
        return f"{self.vendor:04x}:{self.product:04x}"

    @property
    def path(self) -> str:
        """nfcpy's fully qualified path for exactly this device (``usb:001:004``)."""
        return f"usb:{self.bus:03d}:{self.address:03d}"

    @property
    def supported(self) -> bool:
        """True when nfcpy has a driver for it."""
        return (self.vendor, self.product) in SUPPORTED_USB_READERS

    @property
    def name(self) -> str | None:
        """A name for a reader nfcpy supports or an ACS reader it does not; None otherwise."""
        known = SUPPORTED_USB_READERS.get((self.vendor, self.product))
        if known is None and self.vendor == _ACS_VENDOR:
            return "ACS reader, not supported (it needs PC/SC)"
        return known


def find_usb_devices(path: str = "usb") -> list[UsbDevice]:
    """The USB devices matching nfcpy's ``path`` (``usb``, ``usb:VID[:PID]``, ``usb:BUS[:DEV]``).

    Raises whatever libusb raises: FileNotFoundError when the library is missing.
    """
    from nfc.clf import transport

    found = transport.USB.find(path) or []
    return [UsbDevice(int(v), int(p), int(b), int(d)) for v, p, b, d in found]


def udev_rule(vendor: int, product: int) -> str:
    """The udev rule line that lets every user open the USB reader ``vendor:product``."""
    return (
        f'SUBSYSTEM=="usb", ATTRS{{idVendor}}=="{vendor:04x}", '
        f'ATTRS{{idProduct}}=="{product:04x}", MODE="0666"'
    )


# -- explaining errors ------------------------------------------------------------------------

_LIBUSB_MISSING = (
    "The USB library libusb is not installed. Install the libusb-1.0-0 package:\n"
    "  sudo apt install libusb-1.0-0"
)
_BUSY = (
    "The reader{ids} is in use by another program or by a kernel driver. Free it:\n"
    "  sudo systemctl stop pcscd   (the smart-card daemon; also stop pcscd.socket, or it starts "
    "again on demand)\n"
    "  sudo modprobe -r pn533_usb port100   (the kernel's own NFC drivers)\n"
    "To keep the kernel drivers away after a reboot, blacklist them:\n"
    "  printf 'blacklist pn533_usb\\nblacklist port100\\n' | "
    "sudo tee /etc/modprobe.d/blacklist-nfc.conf"
)
_USB_PERMISSION = (
    "This user may not open the reader{ids}. Allow it with a udev rule, then unplug and replug "
    "the reader:\n"
    "  echo '{rule}' | sudo tee -a /etc/udev/rules.d/60-tapdesk-nfc.rules\n"
    "  sudo udevadm control --reload-rules"
)
_TTY_PERMISSION = (
    "This user may not open the serial port of {path}. Join the dialout group, then log out and "
    "in again:\n"
    "  sudo usermod -aG dialout $USER"
)


ProbeResult = tuple[int | None, UsbDevice]
"""What :func:`probe_usb` found: the errno of opening the device (None if it opened) and which."""


def explain_open_error(
    exc: BaseException, path: str, probe: Callable[[str], ProbeResult | None] | None = None
) -> ReaderState:
    """The reader state for an exception raised while opening nfcpy ``path``.

    Args:
        exc: What ``ContactlessFrontend(path)`` raised.
        path: nfcpy's device path (``usb``, ``usb:054c:06c3``, ``tty:USB0:pn532``, ``udp:…``).
        probe: How to find the real cause when nfcpy says "no such device" for a partial USB
            path (nfcpy then skips readers it cannot open, so a busy or forbidden reader looks
            absent); defaults to :func:`probe_usb`.

    Returns:
        A state whose ``code`` is one of :data:`READER_CODES` and whose ``detail`` says, in plain
        words, what to do.
    """
    code = getattr(exc, "errno", None)
    usb = path.startswith("usb")
    if isinstance(exc, ImportError):
        return ReaderState("error", f"A Python package nfcpy needs is missing: {exc}")
    if usb and (isinstance(exc, FileNotFoundError) or code == errno.ENOENT):
        return ReaderState("libusb_missing", _LIBUSB_MISSING)
    ids = _ids_in_path(path)
    if code == errno.ENODEV or "No such device" in str(exc):
        if usb:
            found = (probe or probe_usb)(path)
            if found is not None:
                found_errno, device = found
                if found_errno in (errno.EBUSY, errno.EACCES):
                    return _busy_or_permission(found_errno, path, (device.vendor, device.product))
                if device.name is not None and not device.supported:
                    return ReaderState(
                        "no_device",
                        f"Found an ACS reader ({device.ids}) that this version of tapdesk cannot "
                        "use: ACS readers other than the ACR122U need PC/SC, which is not "
                        "supported yet. Use a Sony RC-S380, an SCL3711 or a PN532 reader.",
                    )
        return ReaderState("no_device", _no_device(path))
    if code in (errno.EBUSY, errno.EACCES) or isinstance(exc, PermissionError):
        return _busy_or_permission(code or errno.EACCES, path, ids)
    if isinstance(exc, FileNotFoundError):  # a serial port that does not exist
        return ReaderState("no_device", _no_device(path))
    return ReaderState("error", f"Could not open the reader {path}: {exc}")


def probe_usb(path: str) -> ProbeResult | None:
    """Open each USB device matching ``path`` by its exact address, to learn why nfcpy skipped it.

    Returns the first supported reader and the errno its exact-address open raised (None when it
    opened after all), else the first ACS reader nfcpy cannot drive, else None.
    """
    try:
        devices = find_usb_devices(path)
    except Exception as exc:  # libusb may be broken in ways of its own; the caller says ENODEV
        log.debug("could not list USB devices: %s", exc)
        return None
    import nfc

    for device in devices:
        if not device.supported:
            continue
        try:
            nfc.ContactlessFrontend(device.path).close()
        except OSError as exc:
            return exc.errno, device
        return None, device
    for device in devices:
        if device.name is not None:
            return None, device
    return None


def _busy_or_permission(code: int, path: str, ids: tuple[int, int] | None) -> ReaderState:
    shown = f" {ids[0]:04x}:{ids[1]:04x}" if ids else ""
    if code == errno.EBUSY:
        return ReaderState("busy", _BUSY.format(ids=shown))
    if path.startswith(("tty", "com")):
        return ReaderState("permission", _TTY_PERMISSION.format(path=path))
    vendor, product = ids if ids else (0x054C, 0x06C3)
    detail = _USB_PERMISSION.format(ids=shown, rule=udev_rule(vendor, product))
    if ids is None:
        detail += "\n(That rule is for a Sony RC-S380: find your reader's VID:PID with lsusb.)"
    return ReaderState("permission", detail)


def _no_device(path: str) -> str:
    if path.startswith(("tty", "com")):
        return (
            f"No reader found on {path} — plug it in, and check the port name "
            "(ls /dev/ttyUSB* /dev/ttyACM*)."
        )
    return f"No reader found — plug it in (looked for {path})."


def _ids_in_path(path: str) -> tuple[int, int] | None:
    # Only "usb:VVVV:PPPP" names the product; "usb:BBB:DDD" (bus and address) is decimal.
    parts = path.split(":")
    if len(parts) == 3 and parts[0] == "usb" and all(len(p) == 4 for p in parts[1:]):
        try:
            return int(parts[1], 16), int(parts[2], 16)
        except ValueError:
            return None
    return None


def explain_io_error(exc: BaseException | None, path: str) -> ReaderState:
    """The reader state after an I/O error while polling (the device stays to be reopened)."""
    code = getattr(exc, "errno", None)
    if code == errno.ENODEV:
        return ReaderState("no_device", "The reader was unplugged — plug it back in.")
    what = f" ({exc})" if exc is not None else ""
    return ReaderState(
        "error",
        f"The reader {path} stopped answering{what}; reconnecting. If it does not come back, "
        "unplug it and plug it in again.",
    )


# -- the reader -------------------------------------------------------------------------------


class _NfcpyErrorTrap(logging.Handler):
    """Keeps the I/O error that ``connect()`` logs and swallows, so its errno is not lost.

    nfcpy catches IOError inside ``ContactlessFrontend.connect`` and only logs it (the exception
    object itself is the log message) before returning False. Only records from the installing
    thread are kept, so two readers in one process do not see each other's errors.
    """

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.error: BaseException | None = None
        self._thread = threading.get_ident()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread == self._thread and isinstance(record.msg, BaseException):
            self.error = record.msg

    def __enter__(self) -> _NfcpyErrorTrap:
        logging.getLogger(_NFCPY_LOGGER).addHandler(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        logging.getLogger(_NFCPY_LOGGER).removeHandler(self)


class _Terminate:
    """nfcpy's ``terminate`` callback; it also tells whether a polling round finished.

    nfcpy calls it once before the first polling round and again after every round that raised
    no I/O error, so a second call proves the device works. With ``after_one_round`` it ends
    ``connect()`` there, to report "ready" as soon as a reopened device has shown it is alive.
    """

    def __init__(self, stop: threading.Event, *, after_one_round: bool) -> None:
        self.stop = stop
        self.after_one_round = after_one_round
        self.calls = 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.stop.is_set() or (self.after_one_round and self.calls >= 2)

    @property
    def round_completed(self) -> bool:
        """True once a polling round ended without an I/O error."""
        return self.calls >= 2


def _hand_back(_tag: object) -> bool:
    # nfcpy's "on-connect": returning True would keep connect() busy until the band leaves, and a
    # generator cannot yield the tap from inside that call, so the tap would reach the screen only
    # after the band was lifted. Returning False hands the tag back at once; NfcReader then runs
    # the same presence loop nfcpy would (a read every 0.1 s, checking the stop event): still one
    # event per placement.
    return False


@dataclass(slots=True)
class _Loop:
    """What :meth:`NfcReader.events` remembers across reopenings."""

    backoff: float = BACKOFF_FIRST_S
    reported: ReaderState | None = None
    released: dict[str, float] = field(default_factory=dict)
    """UID -> monotonic time the band left the reader, for debouncing."""


class NfcReader:
    """A reader driven by nfcpy: one :class:`Tap` per placement of a band.

    Args:
        path: nfcpy's device path: ``usb``, ``usb:054c:06c3``, ``tty:USB0:pn532``,
            ``udp:127.0.0.1:54321``.
        debounce_s: The same UID is ignored for this long after it left the reader (flicker at
            the edge of the field, MIFARE Classic bands failing presence checks while held).
        spec: The ``--reader`` value, copied into every :class:`Tap`.
        frontend: Opens the device (defaults to ``nfc.ContactlessFrontend``); tests replace it.
    """

    def __init__(
        self,
        path: str,
        *,
        debounce_s: float = 2.0,
        spec: str,
        frontend: Callable[[str], Any] | None = None,
    ) -> None:
        self.path = path
        self.spec = spec
        self.debounce_s = debounce_s
        self._frontend = frontend
        udp = path.startswith("udp")
        self._rdwr: dict[str, Any] = {
            "targets": ["106A"],  # wristbands are ISO 14443-A; every other type costs a sense
            "on-connect": _hand_back,
            "iterations": UDP_ITERATIONS if udp else USB_ITERATIONS,
            "interval": POLL_INTERVAL_S,
        }

    def events(self, stop: threading.Event) -> Iterator[Tap | ReaderState]:
        """Yield reader states and taps until ``stop`` is set.

        Yields "ready" once the device is open, then a :class:`Tap` per placement. On an open
        failure or an I/O error it yields the explaining state and tries again after 0.5 s,
        1 s, 2 s, 4 s, then every 5 s; after an I/O error "ready" comes back once a polling round
        on the reopened device has succeeded (over UDP opening cannot fail, so it proves
        nothing). Returns within about 0.5 s of ``stop`` on USB and 1.1 s over UDP.
        """
        loop = _Loop()
        recovering = False
        while not stop.is_set():
            try:
                clf = self._open()
            except Exception as exc:  # nfcpy raises OSError, libusb1 and imports their own
                log.debug("opening %s failed: %r", self.path, exc)
                yield from self._report(loop, explain_open_error(exc, self.path))
                if self._back_off(loop, stop):
                    return
                continue
            try:
                if not recovering:
                    yield from self._ready(loop, clf)
                failure = yield from self._poll(clf, stop, loop, confirm=recovering)
            finally:
                self._close(clf)
            if failure is None:
                return
            yield from self._report(loop, failure)
            recovering = True
            if self._back_off(loop, stop):
                return

    def _open(self) -> Any:
        if self._frontend is not None:
            return self._frontend(self.path)
        import nfc

        return nfc.ContactlessFrontend(self.path)

    def _close(self, clf: Any) -> None:
        # An exception from here would end events() for good (the App does not restart a reader
        # that raised); a device that fails to close is reopened like any other broken one.
        try:
            clf.close()
        except Exception:
            log.warning("closing %s failed", self.path, exc_info=True)

    @staticmethod
    def _report(loop: _Loop, state: ReaderState) -> Iterator[ReaderState]:
        # Repeated failures while backing off say the same thing: report a change only.
        if state != loop.reported:
            loop.reported = state
            yield state

    def _ready(self, loop: _Loop, clf: Any) -> Iterator[ReaderState]:
        loop.backoff = BACKOFF_FIRST_S
        yield from self._report(loop, ReaderState("ready", str(clf)))

    @staticmethod
    def _back_off(loop: _Loop, stop: threading.Event) -> bool:
        """Wait before the next attempt; True when stopped meanwhile."""
        wait, loop.backoff = loop.backoff, min(loop.backoff * 2, BACKOFF_MAX_S)
        return stop.wait(wait)

    def _poll(
        self, clf: Any, stop: threading.Event, loop: _Loop, *, confirm: bool
    ) -> Generator[Tap | ReaderState, None, ReaderState | None]:
        """Poll the open device; returns None when stopped, or the state of an I/O failure."""
        import nfc.clf

        while not stop.is_set():
            terminate = _Terminate(stop, after_one_round=confirm)
            with _NfcpyErrorTrap() as trap:
                try:
                    tag = clf.connect(rdwr=self._rdwr, terminate=terminate)
                except Exception as exc:  # connect() lets a few through (ENODEV after close)
                    log.warning("nfcpy connect() raised", exc_info=True)
                    return explain_io_error(exc, self.path)
            if tag is False:  # nfcpy swallowed an I/O error (or an unsupported target type)
                return explain_io_error(trap.error, self.path)
            if confirm and (terminate.round_completed or tag):
                confirm = False
                yield from self._ready(loop, clf)
            if not tag:  # None: stopped, or the confirming round is over
                continue
            uid = bytes(tag.identifier).hex().upper()
            if self._bouncing(loop, uid):
                log.debug("band %s back within %.1f s: not a new tap", uid, self.debounce_s)
            else:
                log.debug("band %s (%s)", uid, getattr(tag, "product", "?"))
                yield Tap(uid=uid, reader=self.spec, at=datetime.now(UTC))
            try:
                while not stop.is_set() and tag.is_present:
                    stop.wait(PRESENCE_CHECK_S)
            except OSError as exc:
                return explain_io_error(exc, self.path)
            except (nfc.clf.CommunicationError, RuntimeError) as exc:
                # nfcpy's Type 2 transceive turns unexpected link errors into RuntimeError; the
                # band is unreachable either way, which is what "removed" means here.
                log.debug("presence check of %s failed: %r", uid, exc)
            loop.released[uid] = time.monotonic()
        return None

    def _bouncing(self, loop: _Loop, uid: str) -> bool:
        now = time.monotonic()
        for old in [u for u, t in loop.released.items() if now - t >= self.debounce_s]:
            del loop.released[old]
        return uid in loop.released


def libusb_version() -> str | None:
    """The system libusb's version (``1.0.26``), or None when the library is missing."""
    try:
        import usb1

        version = usb1.getVersion()
    except (OSError, ImportError):
        return None
    return f"{version.major}.{version.minor}.{version.micro}"


def usb_device_node(device: UsbDevice) -> str:
    """The device node Linux creates for ``device`` (permissions apply to it)."""
    return os.path.join("/dev/bus/usb", f"{device.bus:03d}", f"{device.address:03d}")
