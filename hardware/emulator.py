"""An NTAG213 wristband emulated over nfcpy's UDP driver, to drive the real nfcpy code path.

nfcpy's ``udp:HOST:PORT`` device simulates the radio with datagrams: the reader sends
``b"106A 26"`` (bit rate and type, then the frame in hex) and a tag is whatever answers from the
other end. :class:`TagEmulator` is that other end for one NXP NTAG213 (7-byte UID, 180 bytes of
memory), answering exactly what nfcpy 1.0.4 asks while it discovers and identifies a Type 2 tag:

========================  ==========================================================
reader sends              emulator answers
========================  ==========================================================
``26`` SENS_REQ/REQA,     ``4400``: ATQA 0x0044 sent least significant byte first, as
``52`` ALL_REQ/WUPA       on air. nfcpy reads ``sens_res[0] & 0x1F == 0`` as a Type 1
                          tag, so the ``00`` byte must not come first.
``93 20`` / ``95 20``     the SDD_RES of cascade level 1 / 2 (``88 U0 U1 U2 BCC0`` /
                          ``U3 U4 U5 U6 BCC1``)
``93 70 …`` / ``95 70 …`` SAK ``04`` (UID not complete) / ``00`` (complete, Type 2)
``30 pp`` READ            16 bytes from page ``pp``, rolling over past the last page to
                          page 0; NAK ``00`` for a page beyond the memory
``60`` GET_VERSION        ``0004040201000F03`` (NXP, NTAG, 213)
``3A ss ee`` FAST_READ    pages ``ss`` to ``ee``
``1A`` AUTHENTICATE       nothing: only an Ultralight C answers it; like a real NTAG the
                          emulated tag goes mute until it is selected again
``50 00`` HLTA            nothing; the tag is halted until ``52`` or the field drops
``RFOFF``                 nothing; the field dropped, the tag is idle again
========================  ==========================================================

Anything else makes the tag go mute, as a real one does, and nfcpy re-selects it.

The one liberty taken with the radio: nfcpy waits 1.0 s for an answer to each SENS_REQ, so a band
placed just after a poll would wait up to a second. A real reader polls every 100 ms or so; to
keep the emulator's timing close to that, a band placed while the last SENS_REQ is still
awaited (under :data:`PENDING_POLL_S` old) answers it at once.

Bands are placed and removed by :meth:`TagEmulator.place`, :meth:`TagEmulator.remove`,
:meth:`TagEmulator.hold` and :meth:`TagEmulator.tap`, or from another process through the
control port (the emulator's port + 1), which takes one ASCII command per datagram and answers
``OK`` or ``ERR <reason>``::

    PLACE 04A1B2C3D4E580     put the band on the reader until REMOVE
    REMOVE                   take it off
    TAP 04A1B2C3D4E580 0.5   put it on, hold it 0.5 s, take it off (answers at once);
                             without the seconds it stays DEFAULT_HOLD_S (0.8 s)
"""

from __future__ import annotations

import logging
import select
import socket
import threading
import time
from dataclasses import dataclass
from enum import Enum
from functools import reduce
from operator import xor
from types import TracebackType

from hardware.uid import normalise_uid

__all__ = [
    "DEFAULT_HOLD_S",
    "GET_VERSION_NTAG213",
    "NTAG213_PAGES",
    "PENDING_POLL_S",
    "TagEmulator",
    "ntag213_memory",
]

log = logging.getLogger("tapdesk.hardware.emulator")

NTAG213_PAGES = 45
"""Pages of 4 bytes: 180 bytes in all (pages 0x00–0x2C)."""
GET_VERSION_NTAG213 = bytes.fromhex("0004040201000F03")
"""GET_VERSION of an NTAG213: header, NXP, NTAG, 50 pF, v1.0, 180 bytes, ISO/IEC 14443-3."""
ATQA = bytes.fromhex("4400")
"""ATQA 0x0044 in the order it travels (and nfcpy's ``sens_res`` holds it): low byte first."""
SAK_INCOMPLETE = b"\x04"
SAK_TYPE2 = b"\x00"
NAK = b"\x00"
PENDING_POLL_S = 0.9
"""How old an unanswered SENS_REQ may be for a newly placed band to answer it (nfcpy waits 1 s)."""
DEFAULT_HOLD_S = 0.8
"""How long a scripted tap keeps the band on the reader. Long enough for the reader to let a band
still lying there go (about 0.3 s of failed presence checks) and then find this one."""
_TICK_S = 0.05
"""How often the emulator thread wakes to notice a scheduled removal or :meth:`stop`."""


class _State(Enum):
    """ISO/IEC 14443-3 tag states, as far as nfcpy drives them."""

    IDLE = "idle"
    READY1 = "ready, cascade level 1 selected next"
    READY2 = "ready, cascade level 2 selected next"
    ACTIVE = "active"
    HALT = "halt"


def ntag213_memory(uid: bytes) -> bytes:
    """The 180-byte memory image of a factory-fresh NTAG213 with ``uid`` (7 bytes).

    Pages 0–2 hold the UID with its two check bytes, page 3 the capability container (NDEF,
    144 data bytes), page 4 an empty NDEF message, pages 0x28–0x2C the lock and configuration
    bytes with NXP's defaults (no password protection: AUTH0 = 0xFF).
    """
    if len(uid) != 7:
        raise ValueError(f"an NTAG213 has a 7-byte UID, not {len(uid)} bytes")
    bcc0 = 0x88 ^ uid[0] ^ uid[1] ^ uid[2]
    bcc1 = uid[3] ^ uid[4] ^ uid[5] ^ uid[6]
    memory = bytearray(NTAG213_PAGES * 4)
    memory[0:12] = bytes([*uid[0:3], bcc0, *uid[3:7], bcc1, 0x48, 0x00, 0x00])
    memory[12:16] = bytes.fromhex("E1101200")  # CC: NDEF 1.0, 0x12 * 8 = 144 bytes, read/write
    memory[16:20] = bytes.fromhex("0300FE00")  # an empty NDEF message, then the terminator
    # Dynamic lock bytes, CFG0 (AUTH0 = FF: no password), CFG1, PWD and PACK (both read as 0).
    memory[0x28 * 4 : 0x2D * 4] = bytes.fromhex("000000BD040000FF000500000000000000000000")
    return bytes(memory)


@dataclass(slots=True)
class _Band:
    """The band on the reader: its UID, memory and protocol state."""

    uid: bytes
    memory: bytes
    state: _State = _State.IDLE

    @property
    def cascade1(self) -> bytes:
        """SDD_RES of cascade level 1: the cascade tag, UID0–2 and their check byte."""
        head = b"\x88" + self.uid[0:3]
        return head + bytes([reduce(xor, head)])

    @property
    def cascade2(self) -> bytes:
        """SDD_RES of cascade level 2: UID3–6 and their check byte."""
        tail = self.uid[3:7]
        return tail + bytes([reduce(xor, tail)])

    def read(self, page: int, pages: int = 4) -> bytes:
        """``pages`` pages from ``page``, rolling over to page 0 past the end (as READ does)."""
        start = page * 4
        doubled = self.memory + self.memory
        return doubled[start : start + pages * 4]


class TagEmulator:
    """One NTAG213 band on a simulated reader, answering nfcpy's UDP driver.

    Args:
        host: Address to listen on (the reader opens ``udp:HOST:PORT``).
        port: UDP port of the radio; the control port is ``port + 1``. ``0`` picks a free pair
            (read :attr:`port` after :meth:`start`).

    The emulator runs in a background thread of its own between :meth:`start` and :meth:`stop`
    (or as a context manager). Placing and removing bands is thread-safe.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._band: _Band | None = None
        self._remove_at: float | None = None
        # The last SENS_REQ nobody answered: (when, from where), for a band placed just after it.
        self._pending_poll: tuple[float, tuple[str, int]] | None = None
        self._radio: socket.socket | None = None
        self._control: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.frames_in = 0
        """Datagrams received on the radio port (for tests)."""

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> TagEmulator:
        """Bind both ports and start answering; raises OSError when a port is taken."""
        if self._thread is not None:
            raise RuntimeError("the emulator is already running")
        self._radio, self._control = self._bind()
        self.port = self._radio.getsockname()[1]
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._serve, name=f"tag-emulator:{self.port}", daemon=True
        )
        self._thread.start()
        log.debug("tag emulator on %s:%d, control port %d", self.host, self.port, self.port + 1)
        return self

    def stop(self) -> None:
        """Stop answering and release both ports (the band, if any, is gone with the field)."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._stop.set()
        thread.join()
        with self._lock:
            self._band = None
            self._remove_at = None
            self._pending_poll = None

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._thread is not None

    def __enter__(self) -> TagEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def _bind(self) -> tuple[socket.socket, socket.socket]:
        # The control port is fixed at port + 1, so with port 0 a free *pair* is needed: take a
        # free port from the kernel and retry while its neighbour happens to be taken.
        for _attempt in range(50):
            radio = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            control = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                radio.bind((self.host, self.port))
                control.bind((self.host, radio.getsockname()[1] + 1))
            except OSError:
                radio.close()
                control.close()
                if self.port:
                    raise
                continue
            if not self.port and _has_service_name(radio.getsockname()[1]):
                # nfcpy reads the port back through getnameinfo() without NI_NUMERICSERV: a port
                # named in /etc/services (57000 is "dircproxy") would come back as that name and
                # the reader would fail to open. A port chosen for us avoids those.
                radio.close()
                control.close()
                continue
            return radio, control
        raise OSError("no free pair of UDP ports for the tag emulator")

    # -- scripting --------------------------------------------------------------------------

    def place(self, uid_hex: str) -> None:
        """Put the band ``uid_hex`` (7 bytes of hex) on the reader until :meth:`remove`."""
        uid = _parse_uid(uid_hex)
        with self._lock:
            self._band = _Band(uid, ntag213_memory(uid))
            self._remove_at = None
            pending, self._pending_poll = self._pending_poll, None
            if pending is not None and time.monotonic() - pending[0] < PENDING_POLL_S:
                self._answer_poll(self._band, pending[1])

    def remove(self) -> None:
        """Take the band off the reader (it stops answering at once)."""
        with self._lock:
            self._band = None
            self._remove_at = None

    def tap(self, uid_hex: str, hold_s: float = DEFAULT_HOLD_S) -> None:
        """Place ``uid_hex`` now and remove it ``hold_s`` seconds later; returns at once."""
        self.place(uid_hex)
        with self._lock:
            self._remove_at = time.monotonic() + hold_s

    def hold(self, uid_hex: str, seconds: float) -> None:
        """Place ``uid_hex``, hold it for ``seconds`` and remove it; returns when removed."""
        self.place(uid_hex)
        time.sleep(seconds)
        self.remove()

    @property
    def band(self) -> str | None:
        """The UID of the band on the reader, or None."""
        with self._lock:
            return self._band.uid.hex().upper() if self._band else None

    # -- the emulator thread ----------------------------------------------------------------

    def _serve(self) -> None:
        radio, control = self._radio, self._control
        assert radio is not None and control is not None
        try:
            while not self._stop.is_set():
                readable, _w, _x = select.select([radio, control], [], [], _TICK_S)
                with self._lock:
                    if self._remove_at is not None and time.monotonic() >= self._remove_at:
                        self._band = None
                        self._remove_at = None
                for sock in readable:
                    try:
                        data, addr = sock.recvfrom(2048)
                    except OSError:
                        # An ICMP error from an earlier answer to a reader socket that has gone;
                        # nothing to do with the next datagram.
                        continue
                    try:
                        if sock is radio:
                            self._on_radio(data, addr)
                        else:
                            self._on_control(data, addr)
                    except Exception:
                        # One odd datagram must not end the emulator (the reader would only see
                        # an empty field from then on).
                        log.exception("tag emulator: could not handle %r", data)
        finally:
            radio.close()
            control.close()
            self._radio = self._control = None

    def _send(self, payload: bytes, addr: tuple[str, int]) -> None:
        radio = self._radio
        if radio is None:
            return
        try:
            # The UDP driver's framing: bit rate and type, a space, the frame in hex.
            radio.sendto(b"106A " + payload.hex().encode("ascii"), addr)
        except OSError as exc:
            log.debug("tag emulator could not answer %s: %s", addr, exc)

    def _on_radio(self, datagram: bytes, addr: tuple[str, int]) -> None:
        self.frames_in += 1
        with self._lock:
            band = self._band
            if datagram.startswith(b"RFOFF"):
                self._pending_poll = None
                if band is not None:
                    band.state = _State.IDLE
                return
            try:
                brty, hex_frame = datagram.split()
                frame = bytes.fromhex(hex_frame.decode("ascii"))
            except (ValueError, UnicodeDecodeError):
                return
            if brty != b"106A" or not frame:
                return
            if band is None:
                if frame in (b"\x26", b"\x52"):
                    self._pending_poll = (time.monotonic(), addr)
                return
            answer = self._answer(band, frame)
            if answer is not None:
                self._send(answer, addr)

    def _answer_poll(self, band: _Band, addr: tuple[str, int]) -> None:
        band.state = _State.READY1
        self._send(ATQA, addr)

    def _answer(self, band: _Band, frame: bytes) -> bytes | None:
        """The answer of ``band`` to ``frame`` (None: stay silent), moving its state on."""
        command = frame[0]
        if frame in (b"\x26", b"\x52"):
            if band.state is _State.HALT and frame == b"\x26":
                return None  # REQA does not wake a halted tag; WUPA does
            band.state = _State.READY1
            return ATQA
        state = band.state
        if state is _State.READY1 and frame == b"\x93\x20":
            return band.cascade1
        if state is _State.READY1 and frame == b"\x93\x70" + band.cascade1:
            band.state = _State.READY2
            return SAK_INCOMPLETE
        if state is _State.READY2 and frame == b"\x95\x20":
            return band.cascade2
        if state is _State.READY2 and frame == b"\x95\x70" + band.cascade2:
            band.state = _State.ACTIVE
            return SAK_TYPE2
        if state is _State.ACTIVE:
            if command == 0x30 and len(frame) == 2:
                page = frame[1]
                return band.read(page) if page < NTAG213_PAGES else NAK
            if command == 0x60 and len(frame) == 1:
                return GET_VERSION_NTAG213
            if command == 0x3A and len(frame) == 3:
                first, last = frame[1], frame[2]
                if first <= last < NTAG213_PAGES:
                    return band.read(first, last - first + 1)
                return NAK
            if frame == b"\x50\x00":
                band.state = _State.HALT
                return None
        # AUTHENTICATE (1A) and every other command: a real NTAG falls silent and back to IDLE,
        # which is what nfcpy's Ultralight C probe relies on before it selects the tag again.
        if state is not _State.HALT:
            band.state = _State.IDLE
        return None

    def _on_control(self, datagram: bytes, addr: tuple[str, int]) -> None:
        reply = self._run_command(datagram.decode("utf-8", errors="replace").split())
        control = self._control
        if control is not None:
            try:
                control.sendto(reply.encode("utf-8"), addr)
            except OSError as exc:
                log.debug("tag emulator could not reply to %s: %s", addr, exc)

    def _run_command(self, words: list[str]) -> str:
        try:
            match words:
                case ["PLACE", uid]:
                    self.place(uid)
                case ["REMOVE"]:
                    self.remove()
                case ["TAP", uid, seconds]:
                    self.tap(uid, _parse_seconds(seconds))
                case ["TAP", uid]:
                    self.tap(uid)
                case _:
                    return "ERR expected PLACE <UID>, REMOVE or TAP <UID> <seconds>"
        except ValueError as exc:
            return f"ERR {exc}"
        return "OK"


def _parse_uid(uid_hex: str) -> bytes:
    uid = normalise_uid(uid_hex)
    if uid is None or len(uid) != 14:
        raise ValueError(f"{uid_hex!r} is not a 7-byte UID such as 04A1B2C3D4E580")
    return bytes.fromhex(uid)


def _parse_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a number of seconds") from None
    if not 0 < seconds <= 60:
        raise ValueError("hold a band between 0 and 60 seconds")
    return seconds


def _has_service_name(port: int) -> bool:
    """Whether ``port`` has a name in the services database (nfcpy cannot open such a port)."""
    return socket.getnameinfo(("127.0.0.1", port), socket.NI_NUMERICHOST)[1] != str(port)
