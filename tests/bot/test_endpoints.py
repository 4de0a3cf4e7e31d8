"""The Discord endpoints a proxy deployment sets: discord.py dials the gateway URL as given."""

from __future__ import annotations

import aiohttp
import discord.gateway
import discord.http
import pytest
from aiohttp import web

from bot.endpoints import apply_discord_endpoints


@pytest.fixture(autouse=True)
def _restore_discord_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )


def dialled_url() -> str:
    """The URL `DiscordWebSocket.from_client` dials for a plain client: DEFAULT_GATEWAY with
    discord.py's own query (`gateway.with_query(v=..., encoding=..., compress=...)`)."""
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    return str(gateway.with_query(v=discord.http.INTERNAL_API_VERSION, encoding="json"))


@pytest.mark.parametrize("path", ["/gateway", "/gateway/", "/a/b"])
async def test_a_proxy_serving_exactly_the_given_path_is_reached(path: str) -> None:
    seen: list[str] = []

    async def gateway(request: web.Request) -> web.WebSocketResponse:
        seen.append(request.path)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws

    app = web.Application()
    app.router.add_get(path, gateway)  # this path only: "/gateway/" is not "/gateway"
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        apply_discord_endpoints("http://127.0.0.1:1/api/v10", f"ws://{host}:{port}{path}")
        async with aiohttp.ClientSession() as session, session.ws_connect(dialled_url()):
            pass
    finally:
        await runner.cleanup()
    assert seen == [path]


def test_an_empty_path_becomes_the_root_and_the_rest_base_loses_its_slash() -> None:
    apply_discord_endpoints("https://proxy.example/api/v10/", "wss://gateway.example")
    assert dialled_url().startswith("wss://gateway.example/?v=")
    assert discord.http.Route.BASE == "https://proxy.example/api/v10"
