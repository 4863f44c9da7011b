"""One reader for each ``--reader`` value: sim, wedge, emulated[:PORT] and nfc:PATH."""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator, Iterator

from hardware.base import Reader, ReaderState, Tap
from hardware.emulator import DEFAULT_HOLD_S, TagEmulator
from hardware.nfc import BACKOFF_FIRST_S, BACKOFF_MAX_S, NfcReader
from hardware.sim import SimulatedReader
from hardware.spec import DEFAULT_EMULATOR_PORT, ReaderSpec
from hardware.wedge import WedgeReader

__all__ = ["EMULATOR_HOST", "EmulatedReader", "make_reader"]

log = logging.getLogger("tapdesk.hardware.factory")

EMULATOR_HOST = "127.0.0.1"
"""The emulated reader listens on loopback only: nobody else on the network should tap bands."""


def make_reader(spec: ReaderSpec, *, debounce_s: float = 2.0) -> Reader:
    """The reader for a parsed ``--reader`` value.

    Args:
        spec: From :func:`hardware.spec.parse_reader_spec`.
        debounce_s: For nfcpy readers (``nfc:…`` and ``emulated``): how long the same band is
            ignored after it left the reader.

    Nothing is opened here: a reader opens its device when its ``events()`` starts, in the
    reader thread, so a missing reader shows in the header instead of stopping the station.
    """
    if spec.kind == "sim":
        return SimulatedReader()
    if spec.kind == "wedge":
        return WedgeReader()
    if spec.kind == "emulated":
        return EmulatedReader(spec.port, debounce_s=debounce_s)
    if spec.kind == "nfc":
        return NfcReader(spec.path, debounce_s=debounce_s, spec=str(spec))
    raise ValueError(f"no reader of kind {spec.kind!r}")


class EmulatedReader:
    """nfcpy's UDP radio and an NTAG213 emulator, both in this process.

    Taps take the real nfcpy path (discovery, anticollision, Type 2 identification, presence
    checks) without hardware. Bands are tapped by :meth:`place` (the demo's picker) or from
    another terminal with ``tapdesk tap UID --port PORT``. The emulator lives exactly as long as
    :meth:`events` runs.
    """

    def __init__(
        self,
        port: int = DEFAULT_EMULATOR_PORT,
        *,
        host: str = EMULATOR_HOST,
        debounce_s: float = 2.0,
        hold_s: float = DEFAULT_HOLD_S,
    ) -> None:
        self.host = host
        self.port = port
        self.spec = f"emulated:{port}"
        self.debounce_s = debounce_s
        self.hold_s = hold_s
        """How long :meth:`place` keeps a band on the reader."""
        self._emulator: TagEmulator | None = None

    def place(self, uid: str) -> None:
        """Tap band ``uid`` (7-byte hex): placed now, removed after :attr:`hold_s`."""
        emulator = self._emulator
        if emulator is None or not emulator.running:
            log.warning("band %s not placed: the emulated reader is not running", uid)
            return
        try:
            emulator.tap(uid, self.hold_s)
        except ValueError as exc:  # the emulator is an NTAG213: 7-byte UIDs only
            log.warning("band %s not placed: %s", uid, exc)

    def events(self, stop: threading.Event) -> Iterator[Tap | ReaderState]:
        """Start the emulator, then yield what an nfcpy reader on it yields; stop both on return."""
        emulator = yield from self._start_emulator(stop)
        if emulator is None:
            return
        self._emulator = emulator
        try:
            reader = NfcReader(
                f"udp:{self.host}:{emulator.port}", debounce_s=self.debounce_s, spec=self.spec
            )
            yield from reader.events(stop)
        finally:
            self._emulator = None
            emulator.stop()

    def _start_emulator(
        self, stop: threading.Event
    ) -> Generator[ReaderState, None, TagEmulator | None]:
        backoff = BACKOFF_FIRST_S
        reported = False
        while not stop.is_set():
            emulator = TagEmulator(self.host, self.port)
            try:
                return emulator.start()
            except OSError as exc:
                # Most likely a second station on this laptop already runs the emulator.
                if not reported:
                    reported = True
                    yield ReaderState(
                        "busy",
                        f"UDP port {self.port} or {self.port + 1} is taken ({exc}): is another "
                        "tapdesk running the emulated reader? Use --reader emulated:PORT with "
                        "another port.",
                    )
            if stop.wait(backoff):
                break
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        return None
