"""The official AI/ML API schemas for Lyria 2 (vendored in tests/specs/api).

The fake API checks every request against them so that a test fails when the bot sends
something the real provider would not accept. The check is stricter than the OpenAPI files in
one respect: a property or query parameter the files do not mention counts as a violation too
(the bot must send exactly the documented fields).

`LYRIA_SHARED_DIR` points at another copy of the specs (see tests/specs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator, oas30_format_checker

from tests.specs import spec_dir

ENDPOINT = "/v2/generate/audio"


def _load(folder: Path, name: str) -> dict[str, Any]:
    path = folder / "api" / name
    try:
        with path.open(encoding="utf-8") as fh:
            data: dict[str, Any] = json.load(fh)
    except FileNotFoundError:
        raise FileNotFoundError(
            f"official API schema {path} not found; LYRIA_SHARED_DIR must hold api/ and "
            "discord-api-spec/ like tests/specs"
        ) from None
    return data


@dataclass(frozen=True)
class QueryParameter:
    name: str
    required: bool
    validator: OAS30Validator


class ApiSchema:
    """Validators for POST bodies, GET queries and 200 responses of /v2/generate/audio."""

    def __init__(self, submit_spec: dict[str, Any], fetch_spec: dict[str, Any]) -> None:
        post = submit_spec["paths"][ENDPOINT]["post"]
        self.request_schema: dict[str, Any] = post["requestBody"]["content"]["application/json"][
            "schema"
        ]
        self.submit_response_schema: dict[str, Any] = post["responses"]["200"]["content"][
            "application/json"
        ]["schema"]
        get = fetch_spec["paths"][ENDPOINT]["get"]
        self.poll_response_schema: dict[str, Any] = get["responses"]["200"]["content"][
            "application/json"
        ]["schema"]
        self._request = OAS30Validator(self.request_schema, format_checker=oas30_format_checker)
        self._submit_response = OAS30Validator(
            self.submit_response_schema, format_checker=oas30_format_checker
        )
        self._poll_response = OAS30Validator(
            self.poll_response_schema, format_checker=oas30_format_checker
        )
        self.query_parameters: dict[str, QueryParameter] = {}
        for param in get.get("parameters", []):
            if param.get("in") != "query":
                continue
            self.query_parameters[param["name"]] = QueryParameter(
                name=param["name"],
                required=bool(param.get("required", False)),
                validator=OAS30Validator(param.get("schema", {})),
            )

    @classmethod
    def load(cls) -> ApiSchema:
        return _cached_schema(str(spec_dir().resolve()))

    def check_submit_body(self, body: Any) -> list[str]:
        """Every way the POST body breaks the official request schema (empty when valid)."""
        problems = [
            f"POST body: {err.message} at {list(err.absolute_path)}"
            for err in self._request.iter_errors(body)
        ]
        if isinstance(body, dict):
            known = set(self.request_schema.get("properties", {}))
            problems += [
                f"POST body: unknown property {key!r} (not in the official schema)"
                for key in sorted(set(body) - known)
            ]
        return problems

    def check_poll_query(self, query: Mapping[str, str] | list[tuple[str, str]]) -> list[str]:
        """Every way the GET query breaks the documented parameters (empty when valid)."""
        pairs = list(query.items()) if isinstance(query, Mapping) else list(query)
        problems: list[str] = []
        seen: dict[str, int] = {}
        for name, value in pairs:
            seen[name] = seen.get(name, 0) + 1
            param = self.query_parameters.get(name)
            if param is None:
                problems.append(f"GET query: unknown parameter {name!r}")
                continue
            problems += [
                f"GET query {name}: {err.message}" for err in param.validator.iter_errors(value)
            ]
        for name, count in seen.items():
            if count > 1:
                problems.append(f"GET query: parameter {name!r} given {count} times")
        for param in self.query_parameters.values():
            if param.required and param.name not in seen:
                problems.append(f"GET query: missing required parameter {param.name!r}")
            elif param.required and any(n == param.name and not v for n, v in pairs):
                problems.append(f"GET query: required parameter {param.name!r} is empty")
        return problems

    def check_submit_response(self, body: Any) -> list[str]:
        return [f"POST response: {e.message}" for e in self._submit_response.iter_errors(body)]

    def check_poll_response(self, body: Any) -> list[str]:
        return [f"GET response: {e.message}" for e in self._poll_response.iter_errors(body)]


@cache
def _cached_schema(folder: str) -> ApiSchema:
    root = Path(folder)
    return ApiSchema(_load(root, "Lyria-2.json"), _load(root, "universal-audio-fetch.json"))
