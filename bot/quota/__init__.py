"""Limits and credit: reserve -> commit / refund, per member, role, server and bot; prompt policy.

The entry point is `bot.quota.service.QuotaService`. Nothing here imports discord.
"""
