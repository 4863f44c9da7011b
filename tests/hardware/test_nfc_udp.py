"""The real nfcpy reader path over nfcpy's UDP driver, against the NTAG213 tag emulator.

Every test gets its own free pair of ports, so the file runs under pytest-xdist too. Timings
are generous multiples of what was measured (activation ~11 ms, removal noticed ~0.3 s after
the band leaves, an idle poll 1.0 s).
"""

from __future__ import annotations

import errno
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

import nfc
import nfc.clf.udp
import pytest

from hardware.base import ReaderState, Tap
from hardware.diagnostics import TapNotDelivered, check_reader, send_tap
from hardware.emulator import TagEmulator, ntag213_memory
from hardware.factory import EmulatedReader, make_reader
from hardware.nfc import (
    BACKOFF_MAX_S,
    NfcReader,
    UsbDevice,
    explain_io_error,
    explain_open_error,
)
from hardware.sim import SimulatedReader
from hardware.spec import ReaderSpec, parse_reader_spec
from hardware.wedge import WedgeReader

BAND_A = "04A1B2C3D4E580"
BAND_B = "0441DC0695E643"
STOP_BUDGET_UDP_S = 1.5
"""ctrl+q must end the reader loop within this over UDP (an unanswered poll waits 1.0 s)."""


class ReaderRun:
    """A reader's ``events()`` running in a thread of its own, as the App runs it."""

    def __init__(self, reader: Any) -> None:
        self.stop_event = threading.Event()
        self.events: queue.Queue[tuple[float, Tap | ReaderState]] = queue.Queue()
        self.seen: list[Tap | ReaderState] = []
        self._reader = reader
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        for event in self._reader.events(self.stop_event):
            self.events.put((time.monotonic(), event))

    def next(self, timeout: float = 3.0) -> tuple[float, Tap | ReaderState]:
        """The next event and when it arrived; fails after ``timeout``."""
        try:
            at, event = self.events.get(timeout=timeout)
        except queue.Empty:
            pytest.fail(f"no reader event within {timeout} s (so far: {self.seen})")
        self.seen.append(event)
        return at, event

    def tap(self, timeout: float = 3.0) -> tuple[float, Tap]:
        """The next event, which must be a tap."""
        at, event = self.next(timeout)
        assert isinstance(event, Tap), f"expected a tap, got {event}"
        return at, event

    def state(self, timeout: float = 3.0) -> ReaderState:
        """The next event, which must be a reader state."""
        _at, event = self.next(timeout)
        assert isinstance(event, ReaderState), f"expected a state, got {event}"
        return event

    def quiet(self, seconds: float) -> None:
        """Nothing happens for ``seconds``."""
        try:
            _at, event = self.events.get(timeout=seconds)
        except queue.Empty:
            return
        pytest.fail(f"unexpected reader event {event}")

    def stop(self) -> float:
        """Stop the reader; returns how long ``events()`` took to return."""
        started = time.monotonic()
        self.stop_event.set()
        self._thread.join(timeout=5)
        assert not self._thread.is_alive(), "the reader ignored the stop event"
        return time.monotonic() - started


@pytest.fixture
def emulator() -> Iterator[TagEmulator]:
    """A tag emulator on a free pair of ports (radio and control)."""
    with TagEmulator("127.0.0.1", 0) as emu:
        yield emu


@pytest.fixture
def run_reader() -> Iterator[Callable[..., ReaderRun]]:
    """Start readers in threads; every one is stopped (and must stop) at the end."""
    runs: list[ReaderRun] = []

    def start(reader: Any) -> ReaderRun:
        run = ReaderRun(reader)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.stop()


def udp_reader(emulator: TagEmulator, debounce_s: float = 0.2, **kwargs: Any) -> NfcReader:
    return NfcReader(
        f"udp:127.0.0.1:{emulator.port}", debounce_s=debounce_s, spec="nfc:udp", **kwargs
    )


# -- the emulator as nfcpy sees it ------------------------------------------------------------


def test_nfcpy_identifies_the_emulator_as_ntag213_20_of_20(emulator: TagEmulator) -> None:
    clf = nfc.ContactlessFrontend(f"udp:127.0.0.1:{emulator.port}")
    options = {"targets": ["106A"], "iterations": 1, "on-connect": lambda tag: False}
    products = []
    try:
        emulator.place(BAND_A)
        for _ in range(20):
            tag = clf.connect(rdwr=options, terminate=lambda: False)
            assert tag.identifier.hex().upper() == BAND_A
            products.append(tag.product)
    finally:
        clf.close()
    assert products == ["NXP NTAG213"] * 20


def test_memory_image_holds_the_uid_and_check_bytes() -> None:
    memory = ntag213_memory(bytes.fromhex(BAND_A))
    assert len(memory) == 180
    assert memory[0:3] == bytes.fromhex("04A1B2") and memory[4:8] == bytes.fromhex("C3D4E580")
    assert memory[3] == 0x88 ^ 0x04 ^ 0xA1 ^ 0xB2
    assert memory[8] == 0xC3 ^ 0xD4 ^ 0xE5 ^ 0x80
    assert memory[12:16] == bytes.fromhex("E1101200")


def test_reads_roll_over_from_the_last_page(emulator: TagEmulator) -> None:
    clf = nfc.ContactlessFrontend(f"udp:127.0.0.1:{emulator.port}")
    memory = ntag213_memory(bytes.fromhex(BAND_A))
    try:
        emulator.place(BAND_A)
        options = {"targets": ["106A"], "iterations": 1, "on-connect": lambda tag: False}
        tag = clf.connect(rdwr=options, terminate=lambda: False)
        assert tag.transceive(b"\x30\x2b") == memory[0x2B * 4 :] + memory[:8]
        assert tag.transceive(b"\x30\x00") == memory[:16]
    finally:
        clf.close()


# -- taps -------------------------------------------------------------------------------------


def test_one_tap(emulator: TagEmulator, run_reader: Callable[..., ReaderRun]) -> None:
    run = run_reader(udp_reader(emulator))
    assert run.state().code == "ready"
    placed = time.monotonic()
    emulator.tap(BAND_A, 0.3)
    at, tap = run.tap()
    assert tap.uid == BAND_A
    assert tap.reader == "nfc:udp"
    assert tap.at.tzinfo is UTC
    assert at - placed < 1.0  # measured ~11 ms
    run.quiet(1.0)


def test_a_band_held_on_the_reader_is_one_tap(
    emulator: TagEmulator, run_reader: Callable[..., ReaderRun]
) -> None:
    run = run_reader(udp_reader(emulator, debounce_s=0.2))
    assert run.state().code == "ready"
    emulator.place(BAND_A)
    assert run.tap()[1].uid == BAND_A
    run.quiet(2.0)  # ten times the debounce window, twenty presence checks
    emulator.remove()
    run.quiet(1.0)


def test_the_same_band_taps_again_only_after_the_debounce_window(
    emulator: TagEmulator, run_reader: Callable[..., ReaderRun]
) -> None:
    run = run_reader(udp_reader(emulator, debounce_s=1.0))
    assert run.state().code == "ready"
    emulator.tap(BAND_A, 0.2)
    run.tap()
    # The band leaves at 0.2 s and the reader notices by about 0.6 s; back at 0.7 s it is a
    # flicker at the edge of the field, not a tap.
    time.sleep(0.7)
    emulator.tap(BAND_A, 0.2)
    run.quiet(1.0)
    # Out of the field for longer than the window: a new tap.
    time.sleep(0.8)
    emulator.tap(BAND_A, 0.3)
    assert run.tap()[1].uid == BAND_A


def test_two_different_bands(emulator: TagEmulator, run_reader: Callable[..., ReaderRun]) -> None:
    run = run_reader(udp_reader(emulator, debounce_s=2.0))
    assert run.state().code == "ready"
    emulator.tap(BAND_A, 0.3)
    assert run.tap()[1].uid == BAND_A
    # B replaces A while A is still on the reader. The reader needs ~0.3 s of failed presence
    # checks to let A go before it polls again, so B stays longer than that.
    emulator.tap(BAND_B, 0.8)
    assert run.tap()[1].uid == BAND_B  # the debounce is per band
    run.quiet(0.5)


# -- failures ---------------------------------------------------------------------------------


def test_emulator_dying_and_returning(run_reader: Callable[..., ReaderRun]) -> None:
    first = TagEmulator("127.0.0.1", 0).start()
    port = first.port
    run = run_reader(NfcReader(f"udp:127.0.0.1:{port}", debounce_s=0.2, spec="nfc:udp"))
    assert run.state().code == "ready"
    first.place(BAND_A)
    assert run.tap()[1].uid == BAND_A
    first.stop()  # killed with the band on the reader
    # nfcpy's UDP socket is not connected, so the kernel never reports the dead peer: the reader
    # sees the band leave and an empty field, exactly as a USB reader whose band was lifted. No
    # error, no tap.
    run.quiet(1.5)
    with TagEmulator("127.0.0.1", port) as second:
        # The poll in flight went unanswered into the void: the band must wait for the next
        # one, up to 1 s later (a tap on a real reader is shorter, but its polls are too).
        second.tap(BAND_B, 1.2)
        assert run.tap()[1].uid == BAND_B
        second.tap(BAND_A, 0.8)
        assert run.tap()[1].uid == BAND_A


def test_io_error_reports_error_reopens_and_reads_again(
    emulator: TagEmulator, run_reader: Callable[..., ReaderRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = threading.Event()
    sense_tta = nfc.clf.udp.Device.sense_tta

    def failing_sense_tta(self: Any, target: Any) -> Any:
        if broken.is_set():
            raise OSError(errno.EIO, "Input/output error")
        return sense_tta(self, target)

    monkeypatch.setattr(nfc.clf.udp.Device, "sense_tta", failing_sense_tta)
    opened: list[str] = []

    def frontend(path: str) -> Any:
        opened.append(path)
        return nfc.ContactlessFrontend(path)

    run = run_reader(udp_reader(emulator, frontend=frontend))
    assert run.state().code == "ready"
    broken.set()
    error = run.state()
    assert error.code == "error"
    assert "stopped answering" in error.detail and "Input/output error" in error.detail
    time.sleep(1.0)  # reopened after 0.5 s, failing again: reported once, not every time
    broken.clear()
    assert run.state(timeout=4).code == "ready"  # after a polling round on the reopened device
    assert len(opened) >= 2
    emulator.tap(BAND_A, 0.3)
    assert run.tap()[1].uid == BAND_A


class RecordingStop(threading.Event):
    """A stop event whose waits return at once and are recorded (the backoff schedule)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout or 0.0)
        return self.is_set()


def test_open_failures_back_off_from_half_a_second_to_five() -> None:
    stop = RecordingStop()
    attempts: list[str] = []

    def frontend(path: str) -> Any:
        attempts.append(path)
        if len(attempts) == 7:
            stop.set()
        raise OSError(errno.ENODEV, "No such device")

    reader = NfcReader("tty:USB0:pn532", spec="nfc:tty:USB0:pn532", frontend=frontend)
    states = list(reader.events(stop))
    # The same failure is reported once, however often the reopening fails.
    assert [s.code for s in states if isinstance(s, ReaderState)] == ["no_device"]
    assert "plug it in" in states[0].detail  # type: ignore[union-attr]
    assert stop.waits == [0.5, 1.0, 2.0, 4.0, BACKOFF_MAX_S, BACKOFF_MAX_S, BACKOFF_MAX_S]


def test_reader_recovers_when_the_device_appears(emulator: TagEmulator) -> None:
    failures = iter([OSError(errno.EBUSY, "Device or resource busy")])

    def frontend(path: str) -> Any:
        for exc in failures:
            raise exc
        return nfc.ContactlessFrontend(path)

    stop = RecordingStop()
    events = udp_reader(emulator, frontend=frontend).events(stop)
    busy = next(events)
    assert isinstance(busy, ReaderState) and busy.code == "busy"
    ready = next(events)
    assert isinstance(ready, ReaderState) and ready.code == "ready" and "udp" in ready.detail
    stop.set()
    assert list(events) == []


# -- stopping ---------------------------------------------------------------------------------


def test_stopping_while_polling_returns_within_budget(
    emulator: TagEmulator, run_reader: Callable[..., ReaderRun]
) -> None:
    run = run_reader(udp_reader(emulator))
    assert run.state().code == "ready"
    time.sleep(0.3)  # in the middle of a 1 s unanswered poll
    assert run.stop() < STOP_BUDGET_UDP_S


def test_stopping_with_a_band_held_returns_within_budget(
    emulator: TagEmulator, run_reader: Callable[..., ReaderRun]
) -> None:
    run = run_reader(udp_reader(emulator))
    assert run.state().code == "ready"
    emulator.place(BAND_A)
    run.tap()
    time.sleep(0.3)
    assert run.stop() < STOP_BUDGET_UDP_S


# -- errors explained -------------------------------------------------------------------------


def no_probe(path: str) -> None:
    return None


@pytest.mark.parametrize(
    ("exc", "path", "code", "words"),
    [
        (
            FileNotFoundError(errno.ENOENT, "cannot find a suitable libusb-1.0"),
            "usb",
            "libusb_missing",
            ["sudo apt install libusb-1.0-0"],
        ),
        (OSError(errno.ENODEV, "No such device"), "usb", "no_device", ["plug it in"]),
        (
            OSError(errno.EBUSY, "Device or resource busy"),
            "usb:054c:06c3",
            "busy",
            [
                "054c:06c3",
                "sudo systemctl stop pcscd",
                "sudo modprobe -r pn533_usb port100",
                "blacklist port100",
            ],
        ),
        (
            OSError(errno.EACCES, "Permission denied"),
            "usb:054c:06c3",
            "permission",
            [
                'SUBSYSTEM=="usb", ATTRS{idVendor}=="054c", ATTRS{idProduct}=="06c3", MODE="0666"',
                "sudo udevadm control --reload-rules",
            ],
        ),
        (
            PermissionError(errno.EACCES, "Permission denied"),
            "tty:USB0:pn532",
            "permission",
            ["sudo usermod -aG dialout $USER"],
        ),
        (OSError(errno.ENODEV, "No such device"), "tty:USB0:pn532", "no_device", ["ttyUSB"]),
        (OSError(errno.EIO, "Input/output error"), "usb", "error", ["Input/output error"]),
    ],
)
def test_open_errors_are_explained(
    exc: BaseException, path: str, code: str, words: list[str]
) -> None:
    state = explain_open_error(exc, path, probe=no_probe)
    assert state.code == code
    for word in words:
        assert word in state.detail


@pytest.mark.parametrize(
    ("errno_found", "code", "words"),
    [
        (errno.EACCES, "permission", ['ATTRS{idVendor}=="04e6", ATTRS{idProduct}=="5591"']),
        (errno.EBUSY, "busy", ["04e6:5591", "sudo systemctl stop pcscd"]),
    ],
)
def test_a_partial_usb_path_finds_the_real_cause(
    errno_found: int, code: str, words: list[str]
) -> None:
    # nfcpy reports "no such device" for "usb" when the only reader is busy or forbidden.
    scl3711 = UsbDevice(0x04E6, 0x5591, 1, 4)
    state = explain_open_error(
        OSError(errno.ENODEV, "No such device"), "usb", probe=lambda path: (errno_found, scl3711)
    )
    assert state.code == code
    for word in words:
        assert word in state.detail


def test_an_acs_reader_nfcpy_cannot_drive_is_named() -> None:
    acr1252 = UsbDevice(0x072F, 0x223B, 1, 5)
    state = explain_open_error(
        OSError(errno.ENODEV, "No such device"), "usb", probe=lambda path: (None, acr1252)
    )
    assert state.code == "no_device"
    assert "072f:223b" in state.detail and "PC/SC" in state.detail


def test_unplugged_while_polling_says_plug_it_back() -> None:
    assert explain_io_error(OSError(errno.ENODEV, "No such device"), "usb").code == "no_device"
    assert explain_io_error(None, "usb").code == "error"


# -- factory, tap command and reader check ----------------------------------------------------


def free_port_pair() -> int:
    with TagEmulator("127.0.0.1", 0) as probe:
        return probe.port


def test_make_reader_builds_every_kind() -> None:
    assert isinstance(make_reader(parse_reader_spec("sim")), SimulatedReader)
    assert isinstance(make_reader(parse_reader_spec("wedge")), WedgeReader)
    nfc_reader = make_reader(parse_reader_spec("nfc:usb"), debounce_s=3.0)
    assert isinstance(nfc_reader, NfcReader)
    assert nfc_reader.spec == "nfc:usb" and nfc_reader.debounce_s == 3.0
    emulated = make_reader(parse_reader_spec("emulated:6000"))
    assert isinstance(emulated, EmulatedReader) and emulated.spec == "emulated:6000"


def test_emulated_reader_taps_through_nfcpy_and_frees_its_ports(
    run_reader: Callable[..., ReaderRun],
) -> None:
    port = free_port_pair()
    reader = make_reader(ReaderSpec("emulated", port=port), debounce_s=0.2)
    assert isinstance(reader, EmulatedReader)
    run = run_reader(reader)
    assert run.state().code == "ready"
    reader.place(BAND_A)  # what the demo's picker calls
    tap = run.tap()[1]
    assert tap.uid == BAND_A and tap.reader == f"emulated:{port}"
    assert send_tap(BAND_B, port=port) == BAND_B  # what `tapdesk tap` calls (A still there)
    assert run.tap()[1].uid == BAND_B
    assert run.stop() < STOP_BUDGET_UDP_S
    for p in (port, port + 1):  # the emulator stopped with the reader
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", p))


def test_a_taken_emulator_port_is_reported_as_busy(run_reader: Callable[..., ReaderRun]) -> None:
    with TagEmulator("127.0.0.1", 0) as other:
        run = run_reader(EmulatedReader(other.port))
        state = run.state()
        assert state.code == "busy" and str(other.port) in state.detail


def test_send_tap_without_an_emulator_says_how_to_start_one() -> None:
    port = free_port_pair()
    started = time.monotonic()
    with pytest.raises(TapNotDelivered, match="tapdesk demo --reader emulated"):
        send_tap(BAND_A, port=port)
    assert time.monotonic() - started < 1.5


def test_send_tap_refuses_a_uid_the_emulator_cannot_be() -> None:
    with pytest.raises(ValueError, match="7-byte"):
        send_tap("1C78F2BF")


def test_control_port_commands(emulator: TagEmulator) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(1.0)
        sock.connect(("127.0.0.1", emulator.port + 1))

        def command(text: str) -> str:
            sock.send(text.encode())
            return sock.recv(512).decode()

        assert command(f"PLACE {BAND_A.lower()}") == "OK"
        assert emulator.band == BAND_A
        assert command("REMOVE") == "OK"
        assert emulator.band is None
        assert command(f"TAP {BAND_B} 0.2") == "OK"
        assert emulator.band == BAND_B
        time.sleep(0.4)
        assert emulator.band is None
        assert command("PLACE 1234").startswith("ERR")
        assert command("DANCE").startswith("ERR")


def test_reader_check_reads_a_band(emulator: TagEmulator) -> None:
    said: list[str] = []
    threading.Timer(0.5, emulator.tap, args=(BAND_A, 0.3)).start()
    result = check_reader(
        parse_reader_spec(f"nfc:udp:127.0.0.1:{emulator.port}"), 5.0, say=said.append
    )
    assert result.ok and result.uid == BAND_A
    assert result.seconds is not None and result.seconds < 3.0
    assert said == result.lines
    assert any(line.startswith("nfcpy 1.0.4") for line in result.lines)
    assert any("Place a band" in line for line in result.lines)


def test_reader_check_times_out(emulator: TagEmulator) -> None:
    started = time.monotonic()
    result = check_reader(parse_reader_spec(f"nfc:udp:127.0.0.1:{emulator.port}"), 0.3)
    assert not result.ok
    assert "No band was read within 0.3 s." in result.lines
    assert time.monotonic() - started < 2.5


def test_reader_check_of_the_simulator_passes() -> None:
    assert check_reader(parse_reader_spec("sim"), 1.0).ok
