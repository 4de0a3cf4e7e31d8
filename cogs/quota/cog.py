"""/quota: `me` for every member; the other subcommands for moderators (Manage Server).

The group cannot carry `default_member_permissions` (that would hide `/quota me` from
everyone), so the cog's one `interaction_check` lets members run `me` and requires Manage
Server for every other subcommand, when it runs.
"""

from __future__ import annotations

from typing import Literal

import discord
from discord import app_commands
from discord.ext import commands

from bot.bot import JamBot
from bot.interactions import NO_PINGS, is_moderator, requester_of
from bot.quota import limits
from bot.quota.models import InputProblem, QuotaInputError
from bot.quota.timeutil import parse_hhmm
from bot.text import quota as replies
from bot.tree import NotAllowed, NotReady

# Option types: Discord enforces the same bounds as the quota.
PoolSize = app_commands.Range[int, 0, limits.MAX_POOL]
PerWindow = app_commands.Range[int, 0, limits.MAX_PER_WINDOW]
WindowMinutes = app_commands.Range[
    int, limits.MIN_WINDOW_SECONDS // 60, limits.MAX_WINDOW_SECONDS // 60
]
InFlight = app_commands.Range[int, 1, limits.MAX_IN_FLIGHT]
ExtraTracks = app_commands.Range[int, 1, limits.MAX_EXTRA_GRANT]
BlockText = app_commands.Range[str, 1, 200]

MEMBER_COMMANDS = frozenset({"me"})


async def say(interaction: discord.Interaction[JamBot], reply: str) -> None:
    """An ephemeral answer that pings nobody."""
    if interaction.response.is_done():
        await interaction.followup.send(reply, ephemeral=True, allowed_mentions=NO_PINGS)
    else:
        await interaction.response.send_message(reply, ephemeral=True, allowed_mentions=NO_PINGS)


def guild_of(interaction: discord.Interaction[JamBot]) -> int:
    if interaction.guild_id is None or not interaction.client.has_services:
        raise NotReady(replies.NOT_READY)
    return interaction.guild_id


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

    async def interaction_check(self, interaction: discord.Interaction[JamBot]) -> bool:  # type: ignore[override]
        """Members may run `/quota me`; everything else needs Manage Server."""
        command = interaction.command
        if isinstance(command, app_commands.Command) and command.name in MEMBER_COMMANDS:
            return True
        if not is_moderator(interaction):
            raise NotAllowed(replies.NOT_A_MODERATOR)
        return True

    # -- everyone -------------------------------------------------------------------------------

    @quota_group.command(name="me", description="How many tracks you and this server have left")
    async def me(self, interaction: discord.Interaction[JamBot]) -> None:
        guild_of(interaction)
        # Acknowledged first: the reads are quick, but a busy database must not cost the
        # member Discord's 3 seconds.
        await interaction.response.defer(ephemeral=True, thinking=True)
        queries = self.bot.services.quota.queries
        remaining = await queries.remaining(requester_of(interaction))
        await say(interaction, replies.me_text(remaining))

    # -- moderators: reading --------------------------------------------------------------------

    @quota_group.command(name="show", description="Moderators: this server's quota settings")
    async def show(self, interaction: discord.Interaction[JamBot]) -> None:
        guild_id = guild_of(interaction)
        queries = self.bot.services.quota.queries
        reply = replies.show_text(
            await queries.settings(guild_id),
            await queries.pool_usage(guild_id),
            await queries.role_overrides(guild_id),
            await queries.barred_members(guild_id),
            len(await queries.blocked_terms(guild_id)),
        )
        await say(interaction, reply)

    @quota_group.command(name="leaderboard", description="Moderators: who composed most today")
    async def leaderboard(self, interaction: discord.Interaction[JamBot]) -> None:
        guild_id = guild_of(interaction)
        board = await self.bot.services.quota.queries.leaderboard(guild_id, limit=10)
        await say(interaction, replies.leaderboard_text(board))

    # -- moderators: settings -------------------------------------------------------------------

    @quota_group.command(name="pool", description="Moderators: the server's daily shared pool")
    @app_commands.describe(
        size="Tracks per day for the whole server (0 stops composing)",
        reset_time="When the pool refills each day, HH:MM in UTC",
    )
    async def pool(
        self,
        interaction: discord.Interaction[JamBot],
        size: PoolSize | None = None,
        reset_time: app_commands.Range[str, 1, 5] | None = None,
    ) -> None:
        guild_id = guild_of(interaction)
        minute = None
        if reset_time is not None:
            try:
                minute = parse_hhmm(reset_time)
            except ValueError:
                raise QuotaInputError(InputProblem.RESET_TIME) from None
        quota = self.bot.services.quota
        carried = await quota.moderation.set_pool(
            guild_id, size=size, reset_minute=minute, by=interaction.user.id
        )
        settings = await quota.queries.settings(guild_id)
        await say(interaction, replies.pool_set_text(settings, carried))

    @quota_group.command(name="member-limits", description="Moderators: each member's limits")
    @app_commands.describe(
        per_window="Tracks each member may compose per window",
        window_minutes="Length of the rolling window in minutes",
        in_flight="Tracks a member may have in progress at once",
    )
    async def member_limits(
        self,
        interaction: discord.Interaction[JamBot],
        per_window: PerWindow | None = None,
        window_minutes: WindowMinutes | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        guild_id = guild_of(interaction)
        quota = self.bot.services.quota
        await quota.moderation.set_member_limits(
            guild_id,
            per_window=per_window,
            window_seconds=None if window_minutes is None else window_minutes * 60,
            max_in_flight=in_flight,
            by=interaction.user.id,
        )
        await say(
            interaction, replies.member_limits_set_text(await quota.queries.settings(guild_id))
        )

    @quota_group.command(name="role", description="Moderators: limits for members with a role")
    @app_commands.describe(
        role="The role",
        action="Set limits for the role, exempt it from member limits, or clear its override",
        per_window="Tracks per window for members with this role",
        in_flight="Tracks at once for members with this role",
    )
    async def role(
        self,
        interaction: discord.Interaction[JamBot],
        role: discord.Role,
        action: Literal["limit", "exempt", "clear"],
        per_window: PerWindow | None = None,
        in_flight: InFlight | None = None,
    ) -> None:
        guild_id = guild_of(interaction)
        moderation = self.bot.services.quota.moderation
        by = interaction.user.id
        if action == "clear":
            removed = await moderation.clear_role_override(guild_id, role.id, by=by)
            await say(interaction, replies.role_cleared_text(role.id, removed))
            return
        override = await moderation.set_role_override(
            guild_id,
            role.id,
            per_window=per_window if action == "limit" else None,
            max_in_flight=in_flight if action == "limit" else None,
            exempt=action == "exempt",
            by=by,
        )
        await say(interaction, replies.role_set_text(override))

    @quota_group.command(name="grant", description="Moderators: give a member extra tracks")
    @app_commands.describe(member="Who gets them", extra="How many extra tracks")
    async def grant(
        self, interaction: discord.Interaction[JamBot], member: discord.Member, extra: ExtraTracks
    ) -> None:
        guild_id = guild_of(interaction)
        balance = await self.bot.services.quota.moderation.grant_extra(
            guild_id, member.id, extra, by=interaction.user.id
        )
        await say(interaction, replies.grant_text(member.id, extra, balance))

    @quota_group.command(name="reset", description="Moderators: clear a member's recent usage")
    @app_commands.describe(member="Whose usage window to clear")
    async def reset(self, interaction: discord.Interaction[JamBot], member: discord.Member) -> None:
        guild_id = guild_of(interaction)
        await self.bot.services.quota.moderation.reset_member(
            guild_id, member.id, by=interaction.user.id
        )
        await say(interaction, replies.reset_text(member.id))

    @quota_group.command(name="pause", description="Moderators: stop all composing here")
    async def pause(self, interaction: discord.Interaction[JamBot]) -> None:
        await self._set_paused(interaction, True)

    @quota_group.command(name="resume", description="Moderators: allow composing again")
    async def resume(self, interaction: discord.Interaction[JamBot]) -> None:
        await self._set_paused(interaction, False)

    async def _set_paused(self, interaction: discord.Interaction[JamBot], paused: bool) -> None:
        guild_id = guild_of(interaction)
        await self.bot.services.quota.moderation.set_paused(
            guild_id, paused, by=interaction.user.id
        )
        await say(interaction, replies.paused_text(paused))

    @quota_group.command(name="bar", description="Moderators: stop a member from composing")
    @app_commands.describe(member="Who to bar")
    async def bar(self, interaction: discord.Interaction[JamBot], member: discord.Member) -> None:
        await self._set_barred(interaction, member, True)

    @quota_group.command(name="unbar", description="Moderators: let a barred member compose")
    @app_commands.describe(member="Who to unbar")
    async def unbar(self, interaction: discord.Interaction[JamBot], member: discord.Member) -> None:
        await self._set_barred(interaction, member, False)

    async def _set_barred(
        self, interaction: discord.Interaction[JamBot], member: discord.Member, barred: bool
    ) -> None:
        guild_id = guild_of(interaction)
        changed = await self.bot.services.quota.moderation.set_barred(
            guild_id, member.id, barred, by=interaction.user.id
        )
        await say(interaction, replies.barred_text(member.id, barred, changed))

    @quota_group.command(name="channels", description="Moderators: where members may compose")
    @app_commands.describe(
        mode="Restrict composing to the channels given, or allow every channel",
        channel="A channel to allow",
        channel_2="Another channel to allow",
        channel_3="Another channel to allow",
    )
    async def channels(
        self,
        interaction: discord.Interaction[JamBot],
        mode: Literal["restrict", "all"],
        channel: discord.TextChannel | None = None,
        channel_2: discord.TextChannel | None = None,
        channel_3: discord.TextChannel | None = None,
    ) -> None:
        guild_id = guild_of(interaction)
        chosen = sorted({c.id for c in (channel, channel_2, channel_3) if c is not None})
        if mode == "restrict" and not chosen:
            raise QuotaInputError(InputProblem.NO_CHANNEL)
        allowed = chosen if mode == "restrict" else []
        await self.bot.services.quota.moderation.set_allowed_channels(
            guild_id, allowed, by=interaction.user.id
        )
        await say(interaction, replies.channels_text(allowed))

    @quota_group.command(name="modlog", description="Moderators: where quota events are posted")
    @app_commands.describe(channel="The mod-log channel (leave empty to turn the log off)")
    async def modlog(
        self, interaction: discord.Interaction[JamBot], channel: discord.TextChannel | None = None
    ) -> None:
        guild_id = guild_of(interaction)
        channel_id = None if channel is None else channel.id
        await self.bot.services.quota.moderation.set_modlog_channel(
            guild_id, channel_id, by=interaction.user.id
        )
        await say(interaction, replies.modlog_set_text(channel_id))

    # -- moderators: the block list -------------------------------------------------------------

    @block_group.command(name="add", description="Moderators: block a word or pattern in prompts")
    @app_commands.describe(
        text="A word or phrase (or a regular expression when regex is on)",
        regex="Treat the text as a regular expression",
    )
    async def block_add(
        self, interaction: discord.Interaction[JamBot], text: BlockText, regex: bool = False
    ) -> None:
        guild_id = guild_of(interaction)
        term = await self.bot.services.quota.moderation.add_blocked_term(
            guild_id, text, regex=regex, by=interaction.user.id
        )
        await say(interaction, replies.blocked_text(term))

    @block_group.command(name="remove", description="Moderators: unblock a word or pattern")
    @app_commands.describe(text="The word or pattern to remove", regex="It is a regular expression")
    async def block_remove(
        self, interaction: discord.Interaction[JamBot], text: BlockText, regex: bool = False
    ) -> None:
        guild_id = guild_of(interaction)
        removed = await self.bot.services.quota.moderation.remove_blocked_term(
            guild_id, text, regex=regex, by=interaction.user.id
        )
        await say(interaction, replies.unblocked_text(text, removed))

    @block_group.command(name="list", description="Moderators: show the prompt block list")
    async def block_list(self, interaction: discord.Interaction[JamBot]) -> None:
        guild_id = guild_of(interaction)
        terms = await self.bot.services.quota.queries.blocked_terms(guild_id)
        await say(interaction, replies.block_list_text(terms))
