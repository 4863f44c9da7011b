"""Staff PINs: hashed with scrypt (stdlib), checked in constant time.

A PIN is short (4-8 digits), so the hash must be slow and salted: scrypt with a random salt per
PIN, stored with its parameters so that they can be raised later without breaking old hashes::

    scrypt$N$r$p$salt_b64$hash_b64

The event file holds only these hashes (``tapdesk staff pin-hash`` makes one), never a PIN.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from dataclasses import dataclass

from store.i18n import _

__all__ = ["check_pin_hash", "hash_pin", "verify_pin"]

_PIN = re.compile(r"[0-9]{4,8}")

#: Cost parameters for new hashes: about 50 ms on a station laptop, 16 MiB of memory.
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
SALT_BYTES = 16
HASH_BYTES = 32

# Bounds on the parameters accepted from a stored hash: an event file is typed by people, and a
# mistyped (or hostile) N must not make a station allocate gigabytes at sign-in.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16
_MAX_MEMORY = 2**30


@dataclass(frozen=True, slots=True)
class _Parsed:
    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes


def _check_pin(pin: str) -> None:
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        raise ValueError(_("A PIN is 4 to 8 digits (0-9), nothing else."))


def _derive(pin: str, salt: bytes, n: int, r: int, p: int, length: int) -> bytes:
    # OpenSSL refuses more than 32 MiB by default: allow what the parameters need, plus slack.
    maxmem = min(_MAX_MEMORY, 128 * r * (n + p + 2) + 2**20)
    return hashlib.scrypt(
        pin.encode("ascii"), salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=length
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_pin(pin: str) -> str:
    """Hash a staff PIN for the event file.

    Args:
        pin: 4 to 8 ASCII digits.

    Returns:
        ``scrypt$N$r$p$salt_b64$hash_b64`` with a fresh random salt, so the same PIN hashes
        differently every time.

    Raises:
        ValueError: ``pin`` is not 4 to 8 digits.
    """
    _check_pin(pin)
    salt = os.urandom(SALT_BYTES)
    digest = _derive(pin, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, HASH_BYTES)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def _parse(hashed: str) -> _Parsed:
    parts = hashed.split("$") if isinstance(hashed, str) else []
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError(
            _(
                "A PIN hash looks like scrypt$N$r$p$salt$hash (make one with "
                "`tapdesk staff pin-hash`)."
            )
        )
    try:
        n, r, p = (int(part) for part in parts[1:4])
        salt = base64.b64decode(parts[4], validate=True)
        digest = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error) as exc:
        raise ValueError(
            _("The PIN hash is damaged: {reason}.").format(reason=str(exc) or type(exc).__name__)
        ) from exc
    if n < 2 or n > _MAX_N or n & (n - 1):
        raise ValueError(
            _("The PIN hash's N must be a power of two up to {max}.").format(max=_MAX_N)
        )
    if not 1 <= r <= _MAX_R or not 1 <= p <= _MAX_P:
        raise ValueError(
            _("The PIN hash's r and p must be 1-{max_r} and 1-{max_p}.").format(
                max_r=_MAX_R, max_p=_MAX_P
            )
        )
    if len(salt) < 8 or len(digest) < 16:
        raise ValueError(_("The PIN hash's salt or hash is too short."))
    return _Parsed(n=n, r=r, p=p, salt=salt, digest=digest)


def check_pin_hash(hashed: str) -> None:
    """Check that ``hashed`` is a well-formed PIN hash (without knowing the PIN).

    Raises:
        ValueError: with a message saying what is wrong.
    """
    _parse(hashed)


def verify_pin(pin: str, hashed: str) -> bool:
    """Whether ``pin`` is the PIN ``hashed`` was made from.

    The comparison takes the same time wherever the digests differ. A ``pin`` that is not 4 to 8
    digits is simply wrong (it is what someone typed at sign-in).

    Args:
        pin: what the staff member typed.
        hashed: a hash made by :func:`hash_pin`.

    Raises:
        ValueError: ``hashed`` is not a well-formed PIN hash.
    """
    parsed = _parse(hashed)
    if not isinstance(pin, str) or not _PIN.fullmatch(pin):
        return False
    candidate = _derive(pin, parsed.salt, parsed.n, parsed.r, parsed.p, len(parsed.digest))
    return hmac.compare_digest(candidate, parsed.digest)
