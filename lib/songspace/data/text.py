"""Text files of unknown encoding (lyrics, manifests): decoded by their BOM, then as UTF-8, then as cp1252.

Windows "Unicode" text files are UTF-16 with a BOM; older ones are in a legacy code page. ``decode_text``
tries, in order: a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE), strict UTF-8, then the
``FALLBACK`` code page (Windows-1252); it says which one worked, so a fallback can be reported.
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
    or ``"cp1252 (fallback)"``.

    Raises
    ------
    TextDecodeError
        A BOM whose encoding fails, NUL bytes without a BOM, or bytes that are neither UTF-8 nor
        ``FALLBACK`` (cp1252 leaves 0x81, 0x8D, 0x8F, 0x90, 0x9D undefined).
    """
    for bom, enc in _BOMS:
        if data.startswith(bom):
            try:
                return data[len(bom):].decode(enc), f"{enc} (BOM)"
            except UnicodeDecodeError as e:
                raise TextDecodeError(f"starts with a {enc} byte-order mark but is not {enc}: "
                                      f"{e.reason} at byte {e.start + len(bom)}") from e
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as e:
        utf8_error = f"not UTF-8 ({e.reason} at byte {e.start})"
        if not guess:
            raise TextDecodeError(f"{utf8_error} and no byte-order mark") from e
    if b"\0" in data:  # NUL bytes: binary, or UTF-16 without its BOM; no code page is right
        raise TextDecodeError(f"{utf8_error}, no byte-order mark, and NUL bytes (binary?)")
    try:
        return data.decode(FALLBACK), f"{FALLBACK} (fallback)"
    except UnicodeDecodeError as e:
        raise TextDecodeError(f"{utf8_error}, no byte-order mark, and not {FALLBACK} either "
                              f"({e.reason} at byte {e.start})") from e
