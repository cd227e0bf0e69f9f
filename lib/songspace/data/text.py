"""Text files of unknown encoding (lyrics, manifests): decoded by their BOM, then as UTF-8, then as cp1252.

Windows "Unicode" text files are UTF-16 with a BOM; older ones are in a legacy code page. ``decode_text``
tries, in order: a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE), strict UTF-8, then the
``FALLBACK`` code page (Windows-1252); it says which one worked, so a fallback can be reported. Text with NUL
bytes in every other place and no BOM is UTF-16 of Latin-script text (valid UTF-8 too, but no text holds NUL).
"""
from __future__ import annotations

import codecs

# longest first: the UTF-32 LE mark starts with the UTF-16 LE one
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"), (codecs.BOM_UTF8, "utf-8"),
         (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# Windows-1252: what Windows wrote "ANSI" text files in before UTF-8. A guesser (charset-normalizer)
# misplaces short lyrics ("café été" came back as cp1006 or cp1251); a stated code page is predictable.
FALLBACK = "cp1252"


class TextDecodeError(ValueError):
    """Bytes no step of ``decode_text`` could decode; the message says what was tried."""


def decode_text(data: bytes, guess: bool = True) -> tuple[str, str]:
    """Decode ``data`` to text.

    ``guess=False`` stops after UTF-8 (a manifest: its paths must match the file names exactly).

    Returns
    -------
    (text, how) : the text (BOM removed) and how it was decoded: ``"utf-16-le (BOM)"``, ``"utf-8"``,
    ``"utf-16-le (fallback)"`` (no BOM) or ``"cp1252 (fallback)"``.

    Raises
    ------
    TextDecodeError
        A BOM whose encoding fails, NUL bytes without a BOM that are not UTF-16, or bytes that are neither UTF-8 nor
        ``FALLBACK`` (cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined).
    """
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(enc), f"{enc} (BOM)"
            except UnicodeDecodeError as e:
                raise TextDecodeError(f"starts with a {enc} byte-order mark but is not {enc}: "
                                      f"{e.reason} at byte {e.start + len(bom)}") from e
    nul = data.count(b"\0")
    if guess and nul:  # valid UTF-8, but text holds no NUL: UTF-16 without its BOM, or binary
        enc = _bomless_utf16(data)
        if enc is not None:
            try:
                return data.decode(enc), f"{enc} (fallback)"
            except UnicodeDecodeError as e:
                raise TextDecodeError(f"NUL bytes in every other place and no byte-order mark, but not {enc} "
                                      f"either ({e.reason} at byte {e.start})") from e
        if nul > max(2, len(data) // 100):  # a stray NUL or two is damage in a text, more is no text
            raise TextDecodeError(f"{nul} NUL bytes and no byte-order mark: binary, not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        utf8_error = f"not UTF-8 ({e.reason} at byte {e.start})"
        if not guess:
            raise TextDecodeError(f"{utf8_error} and no byte-order mark") from e
    if nul:  # NUL bytes and not UTF-8 either: binary; no code page is right
        raise TextDecodeError(f"{utf8_error}, no byte-order mark, and NUL bytes (binary?)")
    try:
        return data.decode(FALLBACK), f"{FALLBACK} (fallback)"
    except UnicodeDecodeError as e:
        raise TextDecodeError(f"{utf8_error}, no byte-order mark, and not {FALLBACK} either "
                              f"({e.reason} at byte {e.start})") from e


def _bomless_utf16(data: bytes) -> str | None:
    """"utf-16-le" or "utf-16-be" when ``data`` looks like Latin-script UTF-16 without a BOM: at least a third
    of its byte pairs have a NUL high byte, nearly always on the same side; else None."""
    if len(data) % 2:
        return None
    even, odd = data[0::2].count(0), data[1::2].count(0)
    pairs = len(data) // 2
    if odd >= pairs / 3 and even < odd / 10:
        return "utf-16-le"
    if even >= pairs / 3 and odd < even / 10:
        return "utf-16-be"
    return None
