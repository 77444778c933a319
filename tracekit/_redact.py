"""Redaction: secrets in traced values become ``"[REDACTED]"`` before any backend sees them.

Two rules, both on by default (``init(redact=False)`` turns them off):

* a value under a secret-named key (``api_key``, ``password``, ``Authorization``
  ...) is replaced whole; counters such as ``max_tokens`` are not secrets;
* inside any string, parts that look like secrets are replaced.

Runs on the exporter thread from ``_processors`` (payloads) and ``_record``
(errors, attributes, events), the one place every record passes through.
"""

from __future__ import annotations

import re
from typing import Any

REDACTED = "[REDACTED]"

# Key names whose values are secrets. Matched on the key lowercased with
# separators removed, so "api_key", "API-Key" and "apiKey" all match.
_SECRET_KEY_PARTS = (
    "apikey",
    "password",
    "passwd",
    "passphrase",
    "secret",
    "authorization",
    "cookie",
    "credential",
    "privatekey",
    "accesskey",
    "sessionid",
)
_SECRET_KEY_EXACT = frozenset({"auth", "pass", "pwd", "token", "bearer", "signature", "xapikey"})
# Counters that contain "token" but are not secrets.
_TOKEN_SUFFIXES = ("token", "tokenid")

# Whole parts of a string that are secrets: provider keys, bearer credentials,
# JSON Web Tokens and private key blocks.
_SECRET_VALUE = re.compile(
    r"(?:\bsk-(?:proj-|ant-|live-|test-)?[A-Za-z0-9_\-]{16,}"
    r"|\bAKIA[0-9A-Z]{16}\b"
    r"|\bgh[pousr]_[A-Za-z0-9]{30,}"
    r"|\bgithub_pat_[A-Za-z0-9_]{30,}"
    r"|\bxox[abprs]-[A-Za-z0-9-]{10,}"
    r"|\bAIza[0-9A-Za-z_\-]{35}"
    r"|\bhf_[A-Za-z0-9]{30,}"
    r"|\bglpat-[A-Za-z0-9_\-]{20,}"
    r"|\bBearer\s+[A-Za-z0-9._~+/\-]{16,}=*"
    r"|\beyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*-----END [A-Z ]*PRIVATE KEY-----)"
)
# A cheap literal pre-check: only strings it finds something in pay for the
# full pattern above.
_MAYBE_SECRET_VALUE = re.compile(
    r"sk-|AKIA|gh[pousr]_|github_pat_|xox[abprs]-|AIza|hf_|glpat-|Bearer|eyJ|PRIVATE KEY"
)
# The password of a URL with credentials: scheme://user:PASSWORD@host.
_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@?#]*:)([^\s@/?#]+)(?=@)")
# A key and its value written in text: key=value, key: value, "key": "value",
# key='value', and the same inside escaped JSON. Matched where a secret word
# stands before a separator; the key decides (``is_secret_key``), so max_tokens=10 stays.
_PAIR = re.compile(
    r"(?P<key>[A-Za-z0-9_.\-]+)\\?[\"']?[ \t]*(?:[:=]|=>)[ \t]*"
    r"(?:(?P<q>\\?[\"'])(?P<quoted>[^\r\n]{1,1024}?)(?P=q)"
    r"|(?P<bare>(?:(?:Basic|Bearer|Token|Digest)[ \t]+)?[^\s\"',;&<>(){}\[\]\\]{1,1024}))"
)
_KEY_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_KEY_RUN = re.compile(r"[A-Za-z0-9_.\-]+")
_NOT_SECRETS = frozenset({REDACTED, "None", "null", "none", "undefined", "true", "false"})

_key_cache: dict[str, bool] = {}


def is_secret_key(key: str) -> bool:
    """Whether values under ``key`` are redacted (``max_tokens`` is not; ``api_key`` is)."""
    cached = _key_cache.get(key)
    if cached is not None:
        return cached
    norm = "".join(ch for ch in key.lower() if ch.isalnum())
    secret = (
        norm in _SECRET_KEY_EXACT
        or any(part in norm for part in _SECRET_KEY_PARTS)
        or (norm.endswith(_TOKEN_SUFFIXES) and not norm.endswith("tokens"))
    )
    if len(_key_cache) < 10_000:
        _key_cache[key] = secret
    return secret


# The shortest string a free-text rule looks at ("pwd=" and four characters);
# shorter strings are never searched.
MIN_SECRET_LEN = 8
# Every rule that needs no "=" or ":" matches 15 characters or more (a Slack
# "xoxb-" token and ten more): a shorter string holding neither cannot hide a
# secret, so the hot path may keep it clean (_wrappers, D24).
MIN_BARE_SECRET_LEN = 15

# Strings already redacted, by content: traced text repeats (a system prompt,
# a conversation's earlier messages in every later call), and a lookup costs
# a hash where a search costs a scan. Bounded in characters, cleared when full.
_SEEN_MAX_CHARS = 2_000_000
_SEEN_MAX_STRINGS = 20_000
_SEEN_MAX_ITEM = 65_536


class _Seen(dict[str, str]):
    """Redacted strings by content, with the characters held (a pure function's memo)."""

    chars = 0

    def keep(self, value: str, redacted: str) -> None:
        if len(value) > _SEEN_MAX_ITEM:
            return
        if self.chars + len(value) > _SEEN_MAX_CHARS or len(self) >= _SEEN_MAX_STRINGS:
            self.clear()
            self.chars = 0
        self[value] = redacted
        self.chars += len(value)


_seen = _Seen()


def unchanged_by_redaction(value: str) -> bool:
    """Whether :func:`redact_string` is known to return ``value`` unchanged, at O(1) cost.

    True for a string too short to hold a secret, one under 15 characters
    with no ``=`` or ``:`` (every other rule needs 15 or more), and one
    redaction already searched and found clean (the memo): traced text
    repeats, so the hot path can tell the exporter a payload needs no pass
    (IN_CLEAN) without searching anything itself. False means "not known".
    """
    n = len(value)
    if n < MIN_SECRET_LEN or (n < MIN_BARE_SECRET_LEN and "=" not in value and ":" not in value):
        return True
    done = _seen.get(value)
    return done is not None and (done is value or done == value)


key_verdict = _key_cache.get
""":func:`is_secret_key`'s cached verdict on a key: True, False, or None (not judged yet)."""


def redact_string(value: str) -> str:
    """Replace the parts of ``value`` that look like secrets with ``[REDACTED]``.

    Provider keys, bearer credentials, JSON Web Tokens and private key blocks
    are replaced whole; the password of a URL with credentials and the value
    of a secret-named ``key=value`` / ``key: value`` / ``"key": "value"`` pair
    are replaced, keeping the rest readable.
    """
    if len(value) < MIN_SECRET_LEN:
        return value
    done = _seen.get(value)
    if done is not None:
        return done
    out = value
    if _MAYBE_SECRET_VALUE.search(out):
        out = _SECRET_VALUE.sub(REDACTED, out)
    if "@" in out and "://" in out:
        out = _URL_PASSWORD.sub(r"\1" + REDACTED, out)
    if "=" in out or ":" in out:
        out = _redact_pairs(out)
    _seen.keep(value, out)
    return out


def _redact_pairs(text: str) -> str:
    """Redact the values of secret-named ``key=value`` pairs in ``text``.

    Driven by the separators (found by the C string search): the key before
    each is read backwards and judged by ``is_secret_key``; only then is the
    pair matched. Prose has few separators, so this costs little per KB.
    """
    cuts: list[tuple[int, int]] = []
    key_chars = _KEY_CHARS
    for sep in "=:":
        at = text.find(sep)
        while at >= 0:
            if sep == ":" and text.startswith("//", at + 1):  # a URL's scheme, not a key
                at = text.find(sep, at + 3)
                continue
            end = at
            while end and text[end - 1] in " \t":
                end -= 1
            if end and text[end - 1] in "\"'":
                end -= 1
                if end and text[end - 1] == "\\":
                    end -= 1
            if end and text[end - 1] in key_chars:
                # The key is the run of key characters ending here, read on the
                # reversed text so the regex engine walks it, not Python.
                low = end - 64
                run = _KEY_RUN.match(text[end - 1 : low - 1 if low > 0 else None : -1])
                start = end - (run.end() if run else 0)
            else:
                start = end
            if start < end and is_secret_key(text[start:end]):
                m = _PAIR.match(text, start)
                if m is not None:
                    group = "quoted" if m["quoted"] is not None else "bare"
                    if m[group] not in _NOT_SECRETS:
                        cuts.append(m.span(group))
            at = text.find(sep, at + 1)
    if not cuts:
        return text
    parts = []
    end = len(text)
    for cut_start, cut_end in sorted(set(cuts), reverse=True):
        if cut_end > end:  # overlaps a cut after it (a value holding "="): one is enough
            continue
        parts.append(text[cut_end:end])
        parts.append(REDACTED)
        end = cut_start
    parts.append(text[:end])
    return "".join(reversed(parts))


def redact_value(value: Any) -> Any:
    """Return ``value`` (JSON data) with secrets replaced; inputs are not mutated."""
    if isinstance(value, str):
        return redact_string(value)
    if isinstance(value, dict):
        return {
            k: (REDACTED if value_is_set(v) and is_secret_key(k) else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def value_is_set(value: Any) -> bool:
    """Empty values under a secret key are kept: ``api_key=None`` tells something."""
    return value not in (None, "", False)


def redact_record_extras(record: dict[str, Any]) -> None:
    """Redact a record's errors, attributes and events (payloads are redacted as prepared)."""
    if record["attributes"]:
        record["attributes"] = redact_value(record["attributes"])
    if record["events"]:
        record["events"] = redact_value(record["events"])
    error = record["error"]
    if error:
        record["error"] = {k: redact_string(v) for k, v in error.items()}
