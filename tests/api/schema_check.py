"""Validate API responses against api/openapi.yaml.

    from schema_check import validate, operation_exists
    validate("GET", "/v1/customers/{id}", 200, resp.json())
    validate("GET", "/v1/customers/1b4e…", 404, resp.json())   # a concrete path works too
    check_headers("GET", "/v1/customers/{id}", 200, resp.headers)

`validate` finds the operation, picks the response for the status (exact code, then `4XX`-style
range, then `default`), inlines every `#/components/...` reference and validates the body with
JSON Schema 2020-12, checking the formats the spec uses (uuid, date, date-time, email, uri).
Failures raise AssertionError with the operation, status, the failing location and the body.
Works with python3-jsonschema 4.10 (Debian bookworm) and newer: no `referencing` registry needed.
"""

import datetime
import functools
import json
import re
import uuid as uuid_mod
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO_ROOT / "api" / "openapi.yaml"

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
JSON_TYPES = ("application/json", "application/problem+json")


@functools.lru_cache(maxsize=1)
def load_spec():
    """The parsed OpenAPI document (cached; treat as read-only)."""
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


# ---------------------------------------------------------------- references

def _pointer(spec, ref):
    if not ref.startswith("#/"):
        raise AssertionError(f"unsupported $ref {ref!r} (only local '#/...' references)")
    node = spec
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or part not in node:
            raise AssertionError(f"$ref {ref!r} does not resolve")
        node = node[part]
    return node


def resolve(node, spec=None, _stack=()):
    """A deep copy of node with every local $ref inlined (siblings of $ref are kept)."""
    if spec is None:
        spec = load_spec()
    if isinstance(node, dict):
        if "$ref" in node:
            ref = node["$ref"]
            if ref in _stack:
                raise AssertionError(f"recursive $ref {ref!r} cannot be inlined")
            target = resolve(_pointer(spec, ref), spec, _stack + (ref,))
            siblings = {k: resolve(v, spec, _stack) for k, v in node.items() if k != "$ref"}
            if not siblings:
                return target
            if isinstance(target, dict):
                return {"allOf": [target], **siblings}
            return target
        return {k: resolve(v, spec, _stack) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, spec, _stack) for v in node]
    return node


# ---------------------------------------------------------------- formats

_DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _is_date(s):
    if not _DATE.match(s):
        return False
    try:
        datetime.date.fromisoformat(s)
    except ValueError:
        return False
    return True


def _is_date_time(s):
    m = _DATE_TIME.match(s)
    if not m:
        return False
    try:
        datetime.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return False
    hh, mm, ss = int(m.group(4)), int(m.group(5)), int(m.group(6))
    return hh < 24 and mm < 60 and ss <= 60


def _is_uuid(s):
    if not _UUID.match(s):
        return False
    uuid_mod.UUID(s)
    return True


def _is_uri(s):
    parts = urlsplit(s)
    return bool(parts.scheme) and not any(c.isspace() for c in s)


def _format_checker():
    checker = jsonschema.FormatChecker(formats=())
    for name, fn in (("date", _is_date), ("date-time", _is_date_time), ("uuid", _is_uuid),
                     ("email", lambda s: bool(_EMAIL.match(s))), ("uri", _is_uri),
                     ("uri-reference", lambda s: not any(c.isspace() for c in s))):
        checker.checks(name)(lambda inst, fn=fn: not isinstance(inst, str) or fn(inst))
    return checker


_FORMATS = _format_checker()


# ---------------------------------------------------------------- operations

def _match_template(template, path):
    t, p = template.strip("/").split("/"), path.strip("/").split("/")
    if len(t) != len(p):
        return None
    literals = 0
    for ts, ps in zip(t, p):
        if ts.startswith("{") and ts.endswith("}"):
            if not ps:
                return None
        elif ts != ps:
            return None
        else:
            literals += 1
    return literals


def find_path(path):
    """The spec's path template for path: itself when it is a template in the spec, else the
    template that matches the concrete path (query string ignored; most literal segments wins).
    None when nothing matches."""
    paths = load_spec()["paths"]
    path = path.split("?", 1)[0]
    if path in paths:
        return path
    best, best_score = None, -1
    for template in paths:
        score = _match_template(template, path)
        if score is not None and score > best_score:
            best, best_score = template, score
    return best


def _operation(method, path):
    template = find_path(path)
    if template is None:
        return None, None
    return template, load_spec()["paths"][template].get(method.lower())


def operation_exists(method, path_template):
    """True when the spec documents method on path_template (a template or a concrete path)."""
    return _operation(method, path_template)[1] is not None


def operation_id(method, path_template):
    op = _operation(method, path_template)[1]
    return op.get("operationId") if op else None


def _response(method, path, status):
    """(label, resolved response object) for the call."""
    spec = load_spec()
    status = int(status)
    template, op = _operation(method, path)
    if op is None:
        # The router's own answers for paths/methods the spec does not have.
        if template is not None and status == 405:
            return f"{method.upper()} {template} (405)", resolve(spec["components"]["responses"]["MethodNotAllowed"])
        if template is None and status == 404:
            return f"{method.upper()} {path} (unknown path, 404)", resolve(spec["components"]["responses"]["NotFound"])
        raise AssertionError(f"no operation {method.upper()} {path} in {SPEC_PATH} (status {status})")
    responses = op.get("responses", {})
    label = f"{op.get('operationId', '?')} ({method.upper()} {template}) → {status}"
    for key in (str(status), f"{status // 100}XX", f"{status // 100}xx", "default"):
        if key in responses:
            return label + ("" if key == str(status) else f" [via {key!r}]"), resolve(responses[key])
    raise AssertionError(f"{label}: status {status} is not documented (and there is no default response)")


def _media(content_type):
    return content_type.split(";", 1)[0].strip().lower() if content_type else None


def response_schema(method, path_template, status, content_type=None):
    """The resolved schema of the documented body, or None when the response has no content."""
    label, resp = _response(method, path_template, status)
    content = resp.get("content") or {}
    if not content:
        return None
    mt = _media(content_type)
    if mt is not None:
        if mt not in content:
            raise AssertionError(f"{label}: content type {content_type!r} not documented "
                                 f"(documented: {', '.join(content)})")
        return content[mt].get("schema", {})
    for t in JSON_TYPES:
        if t in content:
            return content[t].get("schema", {})
    return next(iter(content.values())).get("schema", {})


def _short(body, limit=2000):
    try:
        text = json.dumps(body, ensure_ascii=False, indent=1)
    except (TypeError, ValueError):
        text = repr(body)
    return text if len(text) <= limit else text[:limit] + " …"


def validate(method, path_template, status, body, content_type=None):
    """Assert that body (parsed JSON, or str/bytes) is what the spec documents for the call.

    path_template may be a spec template ("/v1/customers/{id}") or a concrete path. When
    content_type is given (e.g. resp.headers["Content-Type"]) it must be documented too.
    A response documented without content requires an empty body (None, b"" or "")."""
    label, resp = _response(method, path_template, status)
    content = resp.get("content") or {}
    if not content:
        if body not in (None, b"", ""):
            raise AssertionError(f"{label}: documented without a body, got {_short(body)}")
        return
    schema = response_schema(method, path_template, status, content_type)
    mt = _media(content_type)
    is_json = (mt in JSON_TYPES) if mt else any(t in content for t in JSON_TYPES)
    if isinstance(body, (bytes, bytearray)):
        body = body.decode("utf-8")
    if is_json and isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError as e:
            raise AssertionError(f"{label}: body is not JSON ({e}): {body[:500]!r}") from None
    validator = jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors[:10]:
            where = "/".join(str(p) for p in e.absolute_path) or "(root)"
            lines.append(f"  at {where}: {e.message}")
        if len(errors) > 10:
            lines.append(f"  … and {len(errors) - 10} more")
        raise AssertionError(f"{label}: body does not match the spec:\n" + "\n".join(lines)
                             + f"\nbody: {_short(body)}")


def check_headers(method, path_template, status, headers):
    """Assert that the headers the spec marks required for the response are present and match
    their schema. headers: any case-insensitive mapping (requests' resp.headers) or a dict."""
    label, resp = _response(method, path_template, status)
    lower = {k.lower(): v for k, v in dict(headers).items()}
    for name, h in (resp.get("headers") or {}).items():
        value = lower.get(name.lower())
        if value is None:
            if h.get("required"):
                raise AssertionError(f"{label}: required header {name} missing")
            continue
        schema = dict(h.get("schema") or {})
        if schema.get("type") == "integer":
            if not re.fullmatch(r"-?[0-9]+", value.strip()):
                raise AssertionError(f"{label}: header {name}: {value!r} is not an integer")
            value = int(value)
        validator = jsonschema.Draft202012Validator(schema, format_checker=_FORMATS)
        errs = list(validator.iter_errors(value))
        if errs:
            raise AssertionError(f"{label}: header {name}: {value!r}: {errs[0].message}")
