"""Read input files defensively: bounded size, no blocking on FIFOs, clear errors."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any

from supervisor import WaitForInput

#: Largest CNI config read; real configs are a few kilobytes.
MAX_CONFIG_BYTES = 1024 * 1024
#: Deepest nesting of objects and arrays accepted; real configs use under 10.
MAX_DEPTH = 128


def read_file(path: Path, what: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """Return the bytes of *path*, following symlinks (kubelet uses them).

    :param what: description used in error messages, such as "primary CNI config".
    :raises WaitForInput: when the file is missing, unreadable, not a regular
        file or larger than *limit*.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise WaitForInput(f"{what} not found: {path}", path=path, kind="missing-file") from None
    except OSError as error:
        raise _unreadable(path, what, error) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            msg = f"{what} {path} is not a regular file"
            raise WaitForInput(msg, path=path, kind="not-regular-file")
        if info.st_size > limit:
            msg = f"{what} {path} is too large ({info.st_size} bytes; the limit is {limit})"
            raise WaitForInput(msg, path=path, kind="too-large")
        data = os.read(fd, limit + 1)
    except OSError as error:
        raise _unreadable(path, what, error) from None
    finally:
        os.close(fd)
    if len(data) > limit:
        msg = f"{what} {path} is too large (more than {limit} bytes)"
        raise WaitForInput(msg, path=path, kind="too-large")
    return data


def _unreadable(path: Path, what: str, error: OSError) -> WaitForInput:
    reason = error.strerror or str(error)
    if error.errno == errno.ELOOP:
        reason = "too many levels of symbolic links"
    return WaitForInput(f"cannot read {what} {path}: {reason}", path=path, kind="unreadable")


#: Go's decoder reads every number as a float64; larger magnitudes are errors.
_FLOAT64_MAX = 1.7976931348623157e308


def _parse_bounded_int(text: str) -> int:
    value = int(text)
    if abs(value) > _FLOAT64_MAX:
        msg = f"number {text[:20]}... is out of range"
        raise ValueError(msg)
    return value


def _parse_finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        msg = f"number {text} is out of range"
        raise ValueError(msg)
    return value


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def parse_json_object(data: bytes, path: Path, what: str) -> dict[str, Any]:
    """Parse *data* as a JSON object as strictly as Go's decoder.

    :raises WaitForInput: naming the file, with the line and column of a
        syntax error.
    """
    if not data.strip():
        raise WaitForInput(f"{what} {path} is empty", path=path, kind="empty-file")
    if data.startswith(b"\xef\xbb\xbf"):
        msg = f"{what} {path} starts with a UTF-8 byte order mark; save it without one"
        raise WaitForInput(msg, path=path, kind="invalid-json")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        msg = f"{what} {path} is not valid UTF-8 (byte {error.start})"
        raise WaitForInput(msg, path=path, kind="invalid-utf8") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_finite_float, parse_int=_parse_bounded_int)
    except json.JSONDecodeError as error:
        msg = f"{what} {path} is invalid JSON: {error.msg} at line {error.lineno} column {error.colno}"
        raise WaitForInput(msg, path=path, kind="invalid-json") from None
    except ValueError as error:
        raise WaitForInput(f"{what} {path} is invalid JSON: {error}", path=path, kind="invalid-json") from None
    except RecursionError:
        msg = f"{what} {path} is nested too deeply to be a CNI config"
        raise WaitForInput(msg, path=path, kind="invalid-json") from None
    if nesting_depth(document) > MAX_DEPTH:
        msg = f"{what} {path} is nested too deeply (more than {MAX_DEPTH} levels) to be a CNI config"
        raise WaitForInput(msg, path=path, kind="invalid-json")
    if not isinstance(document, dict):
        found = json_type(document)
        article = "an" if found[0] in "aeiou" else "a"
        msg = f"{what} {path} must contain a JSON object, not {article} {found}"
        raise WaitForInput(msg, path=path, kind="invalid-json") from None
    return document


def nesting_depth(value: Any) -> int:
    """Return how deeply objects and arrays nest in *value*, without recursion."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def json_type(value: Any) -> str:
    """Return the JSON name of the type of *value*."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if value is None:
        return "null"
    return "object"

