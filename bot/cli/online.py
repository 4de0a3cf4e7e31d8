"""`python -m bot check --online`: ask Discord and the AI/ML API whether the secrets work.

Costs nothing: Discord is asked who the bot is; the AI/ML API is asked for the status of a
generation that does not exist (an authenticated request that starts no work).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import aiohttp
import discord

from bot.aimlapi.client import LyriaClient
from bot.aimlapi.errors import (
    AimlApiError,
    BadRequest,
    GenerationFailed,
    NotFound,
    OutOfCredits,
    Unauthorized,
)
from bot.config import Settings
from bot.invite import invite_url

Report = Callable[[bool, str], None]


async def check_discord(settings: Settings, report: Report) -> int | None:
    """Log in over HTTP only; the application id, or None when the token does not work."""
    if settings.discord_token is None:
        return None
    client = discord.Client(intents=discord.Intents.none())
    try:
        await client.login(settings.discord_token.reveal())
        app = await client.application_info()
    except discord.LoginFailure:
        report(False, "Discord refused DISCORD_TOKEN: reset it in the Developer Portal (Bot)")
        return None
    except (discord.HTTPException, aiohttp.ClientError, OSError) as error:
        report(False, f"Discord could not be reached to check DISCORD_TOKEN: {error}")
        return None
    finally:
        await client.close()
    user = client.user
    who = f"{user} ({user.id})" if user is not None else "the bot"
    report(True, f"DISCORD_TOKEN works: logged in as {who}, application {app.id}")
    report(True, f"invite link (with the permissions the bot needs): {invite_url(app.id)}")
    return app.id


async def check_aimlapi(settings: Settings, report: Report) -> bool:
    if settings.aimlapi_key is None:
        return False
    async with aiohttp.ClientSession() as session:
        client = LyriaClient.from_settings(session, settings)
        try:
            await client.poll(str(uuid.uuid4()))
        except (NotFound, GenerationFailed, BadRequest):
            pass  # the key was accepted; there is simply no such generation
        except Unauthorized:
            report(
                False,
                "the AI/ML API refused AIMLAPI_KEY (401): copy a valid key from "
                "https://aimlapi.com/app/keys into .env",
            )
            return False
        except OutOfCredits:
            report(
                False,
                "the AI/ML API accepted AIMLAPI_KEY but refuses it for this model (403): check "
                "the account's balance and that it may use " + settings.aimlapi_model,
            )
            return False
        except AimlApiError as error:
            report(False, f"the AI/ML API could not be asked about AIMLAPI_KEY: {error}")
            return False
    report(True, f"AIMLAPI_KEY works at {settings.aimlapi_base_url}")
    return True
