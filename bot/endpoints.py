"""Point discord.py's REST client and gateway at the configured base URLs.

Deployments behind a REST or gateway proxy (and our end-to-end tests) set
`DISCORD_API_BASE_URL` / `DISCORD_GATEWAY_URL`. discord.py builds REST URLs from
`Route.BASE` and a plain (unsharded) client dials `DiscordWebSocket.DEFAULT_GATEWAY`
without asking `/gateway/bot`, so both are set here, once, before the client starts.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl

DEFAULT_API_BASE_URL = "https://discord.com/api/v10"
DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg"


def apply_discord_endpoints(api_base_url: str, gateway_url: str) -> None:
    """Set the REST base (with the API version in it) and the gateway URL discord.py uses."""
    discord.http.Route.BASE = api_base_url.rstrip("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url.rstrip("/") + "/")
