"""/quota: a member's remaining credit, and the moderators' controls over the shared quota.

Thin: every rule lives in `bot.quota`; this module parses options, checks Manage Server at run
time and renders answers. Every reply is ephemeral and pings nobody; text members typed is
escaped. The group cannot carry `default_member_permissions` (that would hide `/quota me` from
everyone), so each moderator subcommand checks the invoker's permissions when it runs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_compose import requester_of
from bot.presentation.text import NO_PINGS, relative_time, safe_text
from bot.quota import limits
from bot.quota.limits import duration_text, plural
from bot.quota.models import QuotaInputError
from bot.quota.service import QuotaService
from bot.quota.timeutil import format_hhmm, parse_hhmm

if TYPE_CHECKING:
    from bot.bot import JamBot

log = logging.getLogger(__name__)

NOT_A_MODERATOR = (
    "Sorry, only members with the **Manage Server** permission can change the quota settings. "
    "You can see your own allowance with `/quota me`."
)
# Option types: Discord enforces the same bounds as the quota service.
PoolSize = app_commands.Range[int, 0, limits.MAX_POOL]
PerWindow = app_commands.Range[int, 0, limits.MAX_PER_WINDOW]
WindowMinutes = app_commands.Range[
    int, limits.MIN_WINDOW_SECONDS // 60, limits.MAX_WINDOW_SECONDS // 60
]
InFlight = app_commands.Range[int, 1, limits.MAX_IN_FLIGHT]
ExtraPieces = app_commands.Range[int, 1, limits.MAX_EXTRA_GRANT]

NOT_READY = "The quota service is not running right now; please try again in a moment."
TERM_CHARS = 120
MESSAGE_CHARS = 1900
MORE = "…and more."


def is_moderator(interaction: discord.Interaction[Any]) -> bool:
    permissions = interaction.permissions
    return permissions.manage_guild or permissions.administrator


def fit(lines: list[str], limit: int = MESSAGE_CHARS) -> str:
    """Join lines, dropping whole lines from the end (with a note) to stay under `limit`."""
    text = "\n".join(lines)
    if len(text) <= limit:
        return text
    kept: list[str] = []
    used = len(MORE)
    for line in lines:
        if used + len(line) + 1 > limit:
            break
        kept.append(line)
        used += len(line) + 1
    return "\n".join([*kept, MORE])


async def say(interaction: discord.Interaction[Any], text: str) -> None:
    """An ephemeral answer that pings nobody."""
    if interaction.response.is_done():
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_PINGS)
    else:
        await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)


class QuotaCog(commands.Cog):
    quota_group = app_commands.Group(
        name="quota",
        description="Your remaining music credit; moderators manage the server's quota here",
        guild_only=True,
    )
    block_group = app_commands.Group(
        name="block", description="Moderators: the prompt block list", parent=quota_group
    )

    def __init__(self, bot: JamBot) -> None:
        self.bot = bot

    # -- helpers --------------------------------------------------------------------------------

    def _service(self) -> QuotaService | None:
        return getattr(self.bot, "quota", None)

    async def _moderate(
        self,
        interaction: discord.Interaction[Any],
        action: Callable[[QuotaService, int], Awaitable[str]],
    ) -> None:
        """Run a moderator subcommand: check Manage Server, run `action(service, guild_id)` and
        answer with what it returns; a QuotaInputError is answered with its polite text."""
        service = self._service()
        if not is_moderator(interaction):
            text = NOT_A_MODERATOR
        elif service is None or interaction.guild_id is None:
            text = NOT_READY
        else:
            try:
                text = await action(service, interaction.guild_id)
            except QuotaInputError as error:
                text = str(error)
        await say(interaction, text)

    # -- everyone -------------------------------------------------------------------------------

    @quota_group.command(name="me", description="How many pieces you and this server have left")
    async def me(self, interaction: discord.Interaction[Any]) -> None:
        service = self._service()
        if service is None:
            await say(interaction, NOT_READY)
            return
        requester = requester_of(interaction)
        remaining = await service.remaining(requester)
        lines = []
        if remaining.member_remaining is None:
            lines.append("🎟️ Your roles exempt you from the per-member limits.")
        else:
            lines.append(
                f"🎟️ You can compose {plural(remaining.member_remaining, 'more piece')} right now."
            )
            if remaining.member_slot_at is not None:
                lines.append(
                    f"⏳ Your next one frees up {relative_time(remaining.member_slot_at)}."
                )
        if remaining.in_flight:
            lines.append(f"🎧 {plural(remaining.in_flight, 'piece')} of yours still composing.")
        if remaining.pool_remaining is not None:
            lines.append(
                f"🎶 The server's shared pool has {plural(remaining.pool_remaining, 'piece')} "
                "left today."
            )
        if remaining.next_reset_at is not None:
            lines.append(f"🔄 The pool refills {relative_time(remaining.next_reset_at)}.")
        if requester.guild_id is not None:
            settings = await service.settings(requester.guild_id)
            if settings.paused:
                lines.append("⏸️ Composing is paused in this server at the moment.")
            if await service.is_barred(requester.guild_id, requester.user_id):
                lines.append("🚫 A moderator has paused your access to composing here.")
        await say(interaction, "\n".join(lines))

    # -- moderators: reading --------------------------------------------------------------------

    @quota_group.command(name="show", description="Moderators: this server's quota settings")
    async def show(self, interaction: discord.Interaction[Any]) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            settings = await service.settings(guild_id)
            usage = await service.pool_usage(guild_id)
            overrides = await service.role_overrides(guild_id)
            barred = await service.barred_members(guild_id)
            terms = await service.blocked_terms(guild_id)

            def mark(name: str) -> str:
                return "" if name in settings.overridden else " (default)"

            lines = [
                f"**Quota for this server**{' — ⏸️ paused' if settings.paused else ''}",
                f"Pool: {usage.used} of {usage.size} used today{mark('daily_pool')}; resets at "
                f"{format_hhmm(settings.reset_minute)} UTC{mark('reset_minute')} "
                f"({relative_time(usage.next_reset_at)})",
                f"Each member: {plural(settings.member_limit, 'piece')} per "
                f"{duration_text(settings.window_seconds)}{mark('member_limit')}, "
                f"{settings.max_in_flight} at once{mark('max_in_flight')}",
            ]
            if settings.allowed_channel_ids:
                channels = ", ".join(f"<#{c}>" for c in sorted(settings.allowed_channel_ids))
                lines.append(f"Channels: only {channels}")
            else:
                lines.append("Channels: all")
            lines.append(
                f"Mod log: <#{settings.modlog_channel_id}>"
                if settings.modlog_channel_id
                else "Mod log: off"
            )
            for override in overrides:
                what = "exempt from member limits" if override.exempt else override.limits_text()
                lines.append(f"Role <@&{override.role_id}>: {what}")
            if barred:
                lines.append("Barred: " + ", ".join(f"<@{u}>" for u in barred))
            lines.append(f"Block list: {plural(len(terms), 'entry', 'entries')}")
            return fit(lines)

        await self._moderate(interaction, act)

    @quota_group.command(name="leaderboard", description="Moderators: who composed most today")
    async def leaderboard(self, interaction: discord.Interaction[Any]) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            board = await service.leaderboard(guild_id, limit=10)
            if not board:
                return "Nobody has composed anything in this pool period yet."
            lines = ["**Most pieces since the last pool reset**"]
            lines += [
                f"{i}. <@{user}> — {plural(n, 'piece')}" for i, (user, n) in enumerate(board, 1)
            ]
            return fit(lines)

        await self._moderate(interaction, act)

    # -- moderators: settings -------------------------------------------------------------------

    @quota_group.command(name="pool", description="Moderators: the server's daily shared pool")
    @app_commands.describe(
        size="Pieces per day for the whole server (0 stops composing)",
        reset_time="When the pool refills each day, HH:MM in UTC",
    )
    async def pool(
        self,
        interaction: discord.Interaction[Any],
        size: PoolSize | None = None,
        reset_time: app_commands.Range[str, 1, 5] | None = None,
    ) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            minute = None
            if reset_time is not None:
                try:
                    minute = parse_hhmm(reset_time)
                except ValueError:
                    return "Please give the reset time as HH:MM in UTC, like 06:30."
            settings = await service.set_pool(
                guild_id, size=size, reset_minute=minute, by=interaction.user.id
            )
            return (
                f"✅ The pool is now {plural(settings.daily_pool, 'piece')} a day, refilling at "
                f"{format_hhmm(settings.reset_minute)} UTC."
            )

        await self._moderate(interaction, act)

    @quota_group.command(name="member-limits", description="Moderators: each member's limits")
    @app_commands.describe(
        per_window="Pieces each member may compose per window",
        window_minutes="Length of the rolling window in minutes",
        in_flight="Pieces a member may have in progress at once",
    )
    async def member_limits(
        self,
        interaction: discord.Interaction[Any],
        per_window: PerWindow | None = None,
        window_minutes: WindowMinutes | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            settings = await service.set_member_limits(
                guild_id,
                per_window=per_window,
                window_seconds=None if window_minutes is None else window_minutes * 60,
                max_in_flight=in_flight,
                by=interaction.user.id,
            )
            return (
                f"✅ Each member may now compose {plural(settings.member_limit, 'piece')} per "
                f"{duration_text(settings.window_seconds)}, {settings.max_in_flight} at once."
            )

        await self._moderate(interaction, act)

    @quota_group.command(name="role", description="Moderators: limits for members with a role")
    @app_commands.describe(
        role="The role",
        action="Set limits for the role, exempt it from member limits, or clear its override",
        per_window="Pieces per window for members with this role",
        in_flight="Pieces at once for members with this role",
    )
    async def role(
        self,
        interaction: discord.Interaction[Any],
        role: discord.Role,
        action: Literal["limit", "exempt", "clear"],
        per_window: PerWindow | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            by = interaction.user.id
            if action == "clear":
                removed = await service.clear_role_override(guild_id, role.id, by=by)
                return (
                    f"✅ {role.mention} now follows the server's member limits."
                    if removed
                    else f"{role.mention} had no override."
                )
            await service.set_role_override(
                guild_id,
                role.id,
                per_window=per_window if action == "limit" else None,
                max_in_flight=in_flight if action == "limit" else None,
                exempt=action == "exempt",
                by=by,
            )
            if action == "exempt":
                return (
                    f"✅ Members with {role.mention} are exempt from the per-member limits "
                    "(they still use the server pool)."
                )
            bits = []
            if per_window is not None:
                bits.append(f"{plural(per_window, 'piece')} per window")
            if in_flight is not None:
                bits.append(f"{in_flight} at once")
            return f"✅ Members with {role.mention} get {', '.join(bits)}."

        await self._moderate(interaction, act)

    @quota_group.command(name="grant", description="Moderators: give a member extra pieces")
    @app_commands.describe(member="Who gets them", extra="How many extra pieces")
    async def grant(
        self,
        interaction: discord.Interaction[Any],
        member: discord.Member,
        extra: ExtraPieces,
    ) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            balance = await service.grant_extra(guild_id, member.id, extra, by=interaction.user.id)
            return (
                f"✅ {member.mention} got {plural(extra, 'extra piece')} "
                f"(extra balance now {balance})."
            )

        await self._moderate(interaction, act)

    @quota_group.command(name="reset", description="Moderators: clear a member's recent usage")
    @app_commands.describe(member="Whose usage window to clear")
    async def reset(self, interaction: discord.Interaction[Any], member: discord.Member) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            await service.reset_member(guild_id, member.id, by=interaction.user.id)
            return f"✅ {member.mention}'s usage window is cleared (the server pool is unchanged)."

        await self._moderate(interaction, act)

    @quota_group.command(name="pause", description="Moderators: stop all composing here")
    async def pause(self, interaction: discord.Interaction[Any]) -> None:
        await self._set_paused(interaction, True)

    @quota_group.command(name="resume", description="Moderators: allow composing again")
    async def resume(self, interaction: discord.Interaction[Any]) -> None:
        await self._set_paused(interaction, False)

    async def _set_paused(self, interaction: discord.Interaction[Any], paused: bool) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            await service.set_paused(guild_id, paused, by=interaction.user.id)
            return "⏸️ Composing is paused in this server." if paused else "▶️ Composing is back on."

        await self._moderate(interaction, act)

    @quota_group.command(name="bar", description="Moderators: stop a member from composing")
    @app_commands.describe(member="Who to bar")
    async def bar(self, interaction: discord.Interaction[Any], member: discord.Member) -> None:
        await self._set_barred(interaction, member, True)

    @quota_group.command(name="unbar", description="Moderators: let a barred member compose")
    @app_commands.describe(member="Who to unbar")
    async def unbar(self, interaction: discord.Interaction[Any], member: discord.Member) -> None:
        await self._set_barred(interaction, member, False)

    async def _set_barred(
        self, interaction: discord.Interaction[Any], member: discord.Member, barred: bool
    ) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            changed = await service.set_barred(guild_id, member.id, barred, by=interaction.user.id)
            if barred:
                return (
                    f"🚫 {member.mention} can no longer compose here."
                    if changed
                    else f"{member.mention} was already barred."
                )
            return (
                f"✅ {member.mention} can compose again."
                if changed
                else f"{member.mention} was not barred."
            )

        await self._moderate(interaction, act)

    @quota_group.command(name="channels", description="Moderators: where members may compose")
    @app_commands.describe(
        mode="Restrict composing to the channels given, or allow every channel",
        channel="A channel to allow",
        channel_2="Another channel to allow",
        channel_3="Another channel to allow",
    )
    async def channels(
        self,
        interaction: discord.Interaction[Any],
        mode: Literal["restrict", "all"],
        channel: discord.TextChannel | None = None,
        channel_2: discord.TextChannel | None = None,
        channel_3: discord.TextChannel | None = None,
    ) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            chosen = sorted({c.id for c in (channel, channel_2, channel_3) if c is not None})
            if mode == "restrict" and not chosen:
                return "Please name at least one channel to restrict composing to."
            await service.set_allowed_channels(
                guild_id, chosen if mode == "restrict" else [], by=interaction.user.id
            )
            if mode == "restrict":
                listed = ", ".join(f"<#{c}>" for c in chosen)
                return f"✅ Members can now compose only in {listed}."
            return "✅ Members can now compose in every channel."

        await self._moderate(interaction, act)

    @quota_group.command(name="modlog", description="Moderators: where quota events are posted")
    @app_commands.describe(channel="The mod-log channel (leave empty to turn the log off)")
    async def modlog(
        self, interaction: discord.Interaction[Any], channel: discord.TextChannel | None = None
    ) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            await service.set_modlog_channel(
                guild_id, None if channel is None else channel.id, by=interaction.user.id
            )
            return (
                f"✅ Quota events will be posted in {channel.mention}."
                if channel is not None
                else "✅ The mod log is off."
            )

        await self._moderate(interaction, act)

    # -- moderators: the block list -------------------------------------------------------------

    @block_group.command(name="add", description="Moderators: block a word or pattern in prompts")
    @app_commands.describe(
        text="A word or phrase (or a regular expression when regex is on)",
        regex="Treat the text as a regular expression",
    )
    async def block_add(
        self,
        interaction: discord.Interaction[Any],
        text: app_commands.Range[str, 1, 200],
        regex: bool = False,
    ) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            term = await service.add_blocked_term(
                guild_id, text, regex=regex, by=interaction.user.id
            )
            shown = safe_text(term.pattern, TERM_CHARS)
            kind = "pattern" if term.kind == "regex" else "word"
            return f"✅ Prompts matching the {kind} “{shown}” are now refused."

        await self._moderate(interaction, act)

    @block_group.command(name="remove", description="Moderators: unblock a word or pattern")
    @app_commands.describe(text="The word or pattern to remove", regex="It is a regular expression")
    async def block_remove(
        self,
        interaction: discord.Interaction[Any],
        text: app_commands.Range[str, 1, 200],
        regex: bool = False,
    ) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            removed = await service.remove_blocked_term(
                guild_id, text, regex=regex, by=interaction.user.id
            )
            shown = safe_text(text, TERM_CHARS)
            return (
                f"✅ Removed “{shown}” from the block list."
                if removed
                else f"“{shown}” was not on the block list."
            )

        await self._moderate(interaction, act)

    @block_group.command(name="list", description="Moderators: show the prompt block list")
    async def block_list(self, interaction: discord.Interaction[Any]) -> None:
        async def act(service: QuotaService, guild_id: int) -> str:
            terms = await service.blocked_terms(guild_id)
            if not terms:
                return "The block list is empty."
            lines = [f"**Block list** ({plural(len(terms), 'entry', 'entries')})"]
            for term in terms:
                kind = "regex" if term.kind == "regex" else "word"
                lines.append(f"• {kind}: “{safe_text(term.pattern, TERM_CHARS)}”")
            return fit(lines)

        await self._moderate(interaction, act)


async def setup(bot: JamBot) -> None:
    await bot.add_cog(QuotaCog(bot))
