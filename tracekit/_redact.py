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
    "secret",
    "authorization",
    "cookie",
    "credential",
    "privatekey",
    "accesskey",
    "sessionid",
)
_SECRET_KEY_EXACT = frozenset({"auth", "pwd", "token", "bearer", "signature", "xapikey"})
# Counters that contain "token" but are not secrets.
_TOKEN_SUFFIXES = ("token", "tokenid")

# Strings that look like provider keys or bearer credentials.
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
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*-----END [A-Z ]*PRIVATE KEY-----)"
)
# A cheap literal pre-check (about 0.2 us on a short string): only strings it
# finds something in pay for the full pattern above.
_MAYBE_SECRET_VALUE = re.compile(
    r"sk-|AKIA|gh[pousr]_|github_pat_|xox[abprs]-|AIza|hf_|glpat-|Bearer|PRIVATE KEY"
)

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


# The shortest string _SECRET_VALUE can match ("xoxb-" and 10 more); shorter
# strings are never searched, and the hot path treats them as clean.
MIN_SECRET_LEN = 15


def redact_string(value: str) -> str:
    """Replace provider-key-looking parts of ``value`` with ``[REDACTED]``."""
    if len(value) < MIN_SECRET_LEN or not _MAYBE_SECRET_VALUE.search(value):
        return value
    return _SECRET_VALUE.sub(REDACTED, value)


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
