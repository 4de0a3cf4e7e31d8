"""Validate request bodies against Discord's official OpenAPI description.

Validators are compiled once per (method, route template) and the parsed spec is shared by every
FakeDiscord in the process, so validation stays cheap under load.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, validators  # type: ignore[import-untyped]
from jsonschema.exceptions import best_match  # type: ignore[import-untyped]
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from tests.specs import spec_dir

SPEC_URI = "urn:discord-openapi"
_SNOWFLAKE = re.compile(r"[1-9][0-9]{0,19}\Z")
_INT_SNOWFLAKES = 10**18
_INT64_MAX = 2**63 - 1
METHODS = ("get", "put", "post", "patch", "delete")


def spec_path() -> Path:
    return spec_dir() / "discord-api-spec" / "openapi.json"


def _escape(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


class SpecValidator:
    """Maps a concrete path to its spec template and validates JSON bodies for it."""

    def __init__(self, document: dict[str, Any]) -> None:
        self._doc = document
        self._registry: Registry[Any] = Registry().with_resource(
            SPEC_URI, DRAFT202012.create_resource(document)
        )
        self._validators: dict[tuple[str, str], Draft202012Validator | None] = {}
        self._results: dict[tuple[str, str, Any], list[str]] = {}
        self._length_boundaries = _length_boundaries(document)

    def has_operation(self, method: str, template: str) -> bool:
        """Whether the spec defines this method on this path template."""
        return method.lower() in self._doc["paths"].get(template, {})

    def _validator(self, method: str, template: str) -> Draft202012Validator | None:
        key = (method.lower(), template)
        if key not in self._validators:
            operation = self._doc["paths"].get(template, {}).get(key[0], {})
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                self._validators[key] = None
            else:
                parts = ["#", "paths", _escape(template), key[0], "requestBody", "content"]
                pointer = "/".join([*parts, "application~1json", "schema"])
                self._validators[key] = RequestValidator(
                    {"$ref": SPEC_URI + pointer}, registry=self._registry
                )
        return self._validators[key]

    def validate_response(self, method: str, template: str, status: int, body: Any) -> list[str]:
        """Violations of the spec by a response the fake sends (a check on the fake itself)."""
        key = (f"response:{method.lower()}:{status}", template)
        if key not in self._validators:
            self._validators[key] = self._response_validator(method.lower(), template, status)
        validator = self._validators[key]
        label = f"{method} {template} -> {status}"
        if validator is None:
            return [] if body is None else [f"{label}: the spec defines no JSON body"]
        return _errors(validator, label, body)

    def _response_validator(
        self, method: str, template: str, status: int
    ) -> Draft202012Validator | None:
        responses = self._doc["paths"].get(template, {}).get(method, {}).get("responses", {})
        code = str(status) if str(status) in responses else f"{str(status)[0]}XX"
        entry = responses.get(code)
        if entry is None:
            return None
        base = ["#", "paths", _escape(template), method, "responses", code]
        if "$ref" in entry:
            name = entry["$ref"].rsplit("/", 1)[1]
            entry = self._doc["components"]["responses"][name]
            base = ["#", "components", "responses", _escape(name)]
        if "application/json" not in entry.get("content", {}):
            return None
        pointer = "/".join([*base, "content", "application~1json", "schema"])
        return Draft202012Validator({"$ref": SPEC_URI + pointer}, registry=self._registry)

    def validate(self, method: str, template: str, body: Any) -> list[str]:
        """Violations of the spec by this body (empty when it conforms).

        Results are memoised on the body's skeleton: free-text strings replaced by same-length
        placeholders (the spec constrains them only by length), so a stream of progress edits
        costs one real validation.
        """
        key = (method, template, self._skeleton(body))
        cached = self._results.get(key)
        if cached is not None:
            return list(cached)
        result = self._validate(method, template, body)
        if len(self._results) > 50_000:
            self._results.clear()
        self._results[key] = result
        return list(result)

    def _skeleton(self, value: Any, key: str | None = None) -> Any:
        """A hashable shape of the body: free text replaced by placeholders that every length
        limit in the spec treats alike (so progress edits of varying length share one
        validation), ids by same-length stand-ins."""
        if isinstance(value, str):
            if _SNOWFLAKE.match(value):  # ids: same length and digit-ness, same verdict
                return "1" + "0" * (len(value) - 1)
            if key not in FREE_TEXT_KEYS:
                return value
            index = bisect.bisect_right(self._length_boundaries, len(value))
            return "x" * (self._length_boundaries[index - 1] if index else 0)
        if isinstance(value, dict):
            return ("{", tuple(sorted((k, self._skeleton(v, k)) for k, v in value.items())))
        if isinstance(value, list):
            return ("[", tuple(self._skeleton(v, key) for v in value))
        if _is_int(value) and _INT_SNOWFLAKES <= value < _INT64_MAX:
            # Integer ids (today's snowflakes have 19 digits): no integer limit in the spec
            # falls in this range, so they all get the same verdict.
            return ("int", _INT_SNOWFLAKES)
        return (type(value).__name__, value)  # keeps 1, 1.0 and True apart

    def _validate(self, method: str, template: str, body: Any) -> list[str]:
        validator = self._validator(method, template)
        if validator is None:
            return [f"{method} {template}: the spec defines no JSON body for this operation"]
        return _errors(validator, f"{method} {template}", body)


def _snowflake_type(validator: Any, types: Any, instance: Any, schema: dict[str, Any]) -> Any:
    """`type`, except that a non-negative integer passes where the spec wants a snowflake.

    The spec types every snowflake as a string (`SnowflakeType`, format "snowflake"); Discord
    accepts integers too, and discord.py sends them (recipient_id, allowed_mentions users and
    roles, message references, attachments[i].id as the upload's index). Driven by the schema,
    so a bare integer anywhere else is still an error.
    """
    if schema.get("format") == "snowflake" and _is_int(instance) and instance >= 0:
        return
    yield from _STRICT_TYPE(validator, types, instance, schema)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


_STRICT_TYPE = Draft202012Validator.VALIDATORS["type"]
# Request bodies only: the fake's own responses (validate_response) stay strict, as Discord
# always sends snowflakes as strings.
RequestValidator = validators.extend(Draft202012Validator, {"type": _snowflake_type})


def _errors(validator: Draft202012Validator, label: str, body: Any) -> list[str]:
    error = best_match(validator.iter_errors(body))
    if error is None:
        return []
    while error.context:
        error = _most_relevant(error.context)
    where = "/".join(str(p) for p in error.absolute_path) or "(body)"
    return [f"{label}: {where}: {error.message[:200]}"]


def _most_relevant(errors: list[Any]) -> Any:
    """For anyOf/oneOf failures: skip branches whose discriminator (`type`) did not match, then
    name the deepest remaining error, which is usually the real mistake."""
    rejected = {
        e.relative_schema_path[0]
        for e in errors
        if list(e.relative_path) == ["type"] and e.validator in ("enum", "const")
    }
    relevant = [e for e in errors if e.relative_schema_path[0] not in rejected] or errors
    return max(relevant, key=lambda e: len(e.absolute_path))


# Keys whose string values the spec limits only by length (checked against the spec file: no
# pattern, enum or const on any property with these names, directly or through a $ref; formats
# such as date-time are not asserted).
FREE_TEXT_KEYS = frozenset(
    {"content", "custom_id", "filename", "description", "label", "title", "value", "text"}
    | {"placeholder", "url", "proxy_url", "icon_url", "name", "timestamp"}
)


def _length_boundaries(document: Any) -> list[int]:
    """Every length at which some minLength/maxLength in the spec changes its verdict."""
    found = {0}
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("minLength"), int):
                found.add(node["minLength"])
            if isinstance(node.get("maxLength"), int):
                found.add(node["maxLength"] + 1)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return sorted(found)


@functools.cache
def load_validator(path: str | None = None) -> SpecValidator:
    """One parsed spec per process (the file is ~1 MB)."""
    with open(path or spec_path(), encoding="utf-8") as handle:
        return SpecValidator(json.load(handle))
