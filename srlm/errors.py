"""One line for an exception: what went wrong and where (file, row, key or endpoint).

``one_line`` is what the console shows for a failed run (``srlm: error: ...``) and what a sweep
lists for each failed job, so the two read the same. The traceback goes to the run's log.

    >>> one_line(FileNotFoundError(2, "No such file or directory", "data/x.jsonl"))
    'FileNotFoundError: No such file or directory: data/x.jsonl'
    >>> one_line(KeyError("prompt"))
    "KeyError: missing key 'prompt'"
    >>> one_line(ValueError("model.builder must be 'tiny' or 'pretrained', got 'nope'"))
    "model.builder must be 'tiny' or 'pretrained', got 'nope'"
"""

from __future__ import annotations

import builtins
import re

MAX_CHARS = 400

# Exceptions whose message is written for the user: shown without the class name.
PLAIN = (ValueError, RuntimeError)
# ... unless the class itself says what happened (a subclass from a library, e.g. JSONDecodeError).
_BUILTIN_NAMES = {name for name in dir(builtins) if name.endswith(("Error", "Exception"))}


def one_line(exc: BaseException, max_chars: int = MAX_CHARS) -> str:
    """``exc`` as one line: its message, its class where that helps, and the file, row, key or
    endpoint it names (its own, or its cause's when it names none)."""
    message = _message(exc)
    where = [w for w in _where(exc) if w.split(": ", 1)[-1] not in message]
    if not where:  # `raise X(...) from e`: e may know the file or the endpoint
        for cause in _causes(exc):
            where = [w for w in _where(cause) if w.split(": ", 1)[-1] not in message]
            if where:
                break
    if message.endswith(":"):  # "... failed with the following error:": the error is the cause
        cause = next(_causes(exc), None)
        if cause is not None:
            message = f"{message} {one_line(cause, max_chars)}"
    line = message + (f" ({', '.join(where)})" if where else "")
    line = re.sub(r"\s+", " ", line).strip()
    return line if len(line) <= max_chars else line[: max_chars - 3].rstrip() + "..."


def _message(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        key = exc.args[0]
        # KeyError("prompt") names a key; KeyError("config has no key 'x'") says it all
        text = key if isinstance(key, str) and " " in key.strip() else f"missing key {key!r}"
    elif isinstance(exc, OSError) and exc.strerror:
        text = exc.strerror
        files = [f for f in (exc.filename, exc.filename2) if f is not None]
        if files:
            text += ": " + " -> ".join(str(f) for f in files)
    else:
        text = _first_line(str(exc))
    if not text:
        return name
    if _plain(exc):
        return text
    return f"{name}: {text}"


def _plain(exc: BaseException) -> bool:
    cls = type(exc)
    if not isinstance(exc, PLAIN) or isinstance(exc, (UnicodeError, NotImplementedError)):
        return False
    # ValueError, RuntimeError and srlm's own subclasses: their messages say it all.
    return cls.__name__ in _BUILTIN_NAMES or cls.__module__.split(".")[0] == "srlm"


def _first_line(text: str) -> str:
    """The first non-empty line; the rest (tracebacks, object dumps) belongs in the log."""
    for line in text.strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def _where(exc: BaseException) -> list[str]:
    """What the exception's attributes say about where: key, endpoint, file, notes."""
    found = []
    key = getattr(exc, "full_key", None)  # omegaconf: the config key
    if key:
        found.append(f"key: {key}")
    url = _url(exc)
    if url:
        found.append(f"endpoint: {url}")
    filename = getattr(exc, "filename", None)  # OSError, SyntaxError and friends
    if filename:
        lineno = None if isinstance(exc, OSError) else getattr(exc, "lineno", None)
        found.append(f"file: {filename}" + (f":{lineno}" if lineno else ""))
    for note in getattr(exc, "__notes__", None) or ():
        if isinstance(note, str) and note.strip():
            found.append(_first_line(note))
    return found


def _url(exc: BaseException) -> str | None:
    """The endpoint of an HTTP client error (httpx, openai, requests, urllib)."""
    for obj in (exc, getattr(exc, "response", None)):
        try:
            request = getattr(obj, "request", None)  # httpx raises when it has none
        except Exception:
            request = None
        url = getattr(request, "url", None)
        if url:
            method = getattr(request, "method", None)
            return f"{method} {url}" if isinstance(method, str) else str(url)
    url = getattr(exc, "url", None)  # urllib.error.HTTPError
    return str(url) if isinstance(url, str) and url else None


def _causes(exc: BaseException):
    """The chain below ``exc``: explicit causes, and implicit context unless suppressed."""
    seen = {id(exc)}
    while True:
        nxt = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
        if nxt is None or id(nxt) in seen:
            return
        seen.add(id(nxt))
        yield nxt
        exc = nxt
