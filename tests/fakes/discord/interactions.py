"""Builders for interaction data: slash command options, component lookup, modal submissions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.fakes.discord.state import (
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
)

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = (
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
)


def build_command_data(
    command: dict[str, Any],
    path: list[str],
    values: dict[str, Any],
    guild: FakeGuild | None,
    *,
    partial: bool = False,
) -> dict[str, Any]:
    """`data` of a type-2 interaction for a synced command, a subcommand path and option values.

    `partial`: an autocomplete request, where required options may still be missing."""
    definitions: list[dict[str, Any]] = command.get("options") or []
    chain: list[dict[str, Any]] = []
    for part in path:
        option = next(
            (
                o
                for o in definitions
                if o["name"] == part and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)
            ),
            None,
        )
        if option is None:
            raise LookupError(f"/{command['name']} has no subcommand {part!r}")
        chain.append({"type": option["type"], "name": part, "options": []})
        definitions = option.get("options") or []
    resolved: dict[str, dict[str, Any]] = {}
    leaf: list[dict[str, Any]] = []
    for name, value in values.items():
        definition = next((o for o in definitions if o["name"] == name), None)
        if definition is None:
            raise LookupError(f"/{command['name']} {' '.join(path)} has no option {name!r}")
        leaf.append(_option_value(definition, value, resolved, guild))
    missing = [o["name"] for o in definitions if o.get("required") and o["name"] not in values]
    if missing and not partial:
        raise LookupError(f"required options missing: {missing}")
    options: list[dict[str, Any]] = leaf
    for link in reversed(chain):
        link["options"] = options
        options = [link]
    data: dict[str, Any] = {
        "id": command["id"],
        "name": command["name"],
        "type": command.get("type", 1),
        "options": options,
    }
    if command.get("guild_id"):
        data["guild_id"] = command["guild_id"]
    if resolved:
        data["resolved"] = resolved
    return data


def _option_value(
    definition: Mapping[str, Any],
    value: Any,
    resolved: dict[str, dict[str, Any]],
    guild: FakeGuild | None,
) -> dict[str, Any]:
    kind = definition["type"]
    out: dict[str, Any] = {"name": definition["name"], "type": kind}
    if kind == STRING:
        out["value"] = str(value)
    elif kind == INTEGER:
        out["value"] = int(value)
    elif kind == NUMBER:
        out["value"] = float(value)
    elif kind == BOOLEAN:
        out["value"] = bool(value)
    elif kind in (USER, MENTIONABLE) and isinstance(value, FakeMember | FakeUser):
        user = value.user if isinstance(value, FakeMember) else value
        out["value"] = str(user.id)
        resolved.setdefault("users", {})[str(user.id)] = user.to_payload()
        member = (
            value
            if isinstance(value, FakeMember)
            else (guild.members.get(user.id) if guild else None)
        )
        if member is not None:
            payload = member.to_payload(with_permissions=True)
            payload.pop("user")
            resolved.setdefault("members", {})[str(user.id)] = payload
    elif kind in (ROLE, MENTIONABLE) and isinstance(value, FakeRole):
        out["value"] = str(value.id)
        resolved.setdefault("roles", {})[str(value.id)] = value.to_payload()
    elif kind == CHANNEL and isinstance(value, FakeChannel):
        out["value"] = str(value.id)
        payload = value.to_payload()
        payload["permissions"] = str(value.bot_permission_bits())
        resolved.setdefault("channels", {})[str(value.id)] = payload
    elif kind == ATTACHMENT and isinstance(value, FakeAttachment):
        out["value"] = str(value.id)
        resolved.setdefault("attachments", {})[str(value.id)] = value.to_payload()
    else:
        raise TypeError(f"option {definition['name']!r} (type {kind}) cannot take {value!r}")
    return out


def mark_focused(
    data: dict[str, Any], command: dict[str, Any], path: list[str], name: str, typed: str
) -> None:
    """Add the option being typed with `focused: true`: its own type, the text as typed."""
    definitions: list[dict[str, Any]] = command.get("options") or []
    for part in path:
        definitions = next(o for o in definitions if o["name"] == part).get("options") or []
    definition = next((o for o in definitions if o["name"] == name), None)
    if definition is None or not definition.get("autocomplete"):
        raise LookupError(f"option {name!r} does not autocomplete")
    options: list[dict[str, Any]] = data["options"]
    while options and options[0]["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP):
        options = options[0]["options"]
    options.append({"name": name, "type": definition["type"], "value": typed, "focused": True})


def find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for item in components:
        if item.get("custom_id") == custom_id:
            return item
        nested = list(item.get("components") or [])
        if isinstance(item.get("accessory"), dict):
            nested.append(item["accessory"])
        if isinstance(item.get("component"), dict):
            nested.append(item["component"])
        found = find_component(nested, custom_id)
        if found is not None:
            return found
    return None


def modal_submit_components(
    shown: dict[str, Any] | None, values: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Submitted components in the layout of the modal the bot showed (rows or labels)."""
    if shown is None:
        return [
            {"type": 1, "components": [{"type": 4, "custom_id": key, "value": value}]}
            for key, value in values.items()
        ]
    out: list[dict[str, Any]] = []
    for item in shown.get("components") or []:
        if item.get("type") == 1:
            inner = [
                {
                    "type": c["type"],
                    "custom_id": c["custom_id"],
                    "value": values.get(c["custom_id"], ""),
                }
                for c in item.get("components") or []
                if "custom_id" in c
            ]
            out.append({"type": 1, "components": inner})
        elif item.get("type") == 18 and isinstance(item.get("component"), dict):
            child = item["component"]
            cid = child.get("custom_id", "")
            out.append(
                {
                    "type": 18,
                    "component": {
                        "type": child["type"],
                        "custom_id": cid,
                        "value": values.get(cid, ""),
                    },
                }
            )
    unknown = set(values) - {c.get("custom_id") for c in _walk(out)}
    if unknown:
        raise LookupError(f"the modal has no inputs {sorted(unknown)}")
    return out


def _walk(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for item in items:
        found.append(item)
        found.extend(_walk(list(item.get("components") or [])))
        if isinstance(item.get("component"), dict):
            found.extend(_walk([item["component"]]))
    return found
