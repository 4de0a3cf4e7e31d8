"""Point discord.py's REST client and gateway at the configured base URLs.

Deployments behind a REST or gateway proxy (and our end-to-end tests) set
`DISCORD_API_BASE_URL` / `DISCORD_GATEWAY_URL`. discord.py builds REST URLs from
`Route.BASE` and a plain (unsharded) client dials `DiscordWebSocket.DEFAULT_GATEWAY`
without asking `/gateway/bot`, so both are set here, once, before the client starts.

The gateway URL is dialled as given: `from_client` only replaces its query with discord.py's
own (`v`, `encoding`, `compress`), so a proxy serving exactly `/gateway` is reached at
`/gateway` (an empty path becomes `/`).
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
    gateway = yarl.URL(gateway_url)
    if not gateway.path:
        gateway = gateway.with_path("/")
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = gateway
