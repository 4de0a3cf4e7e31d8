"""Pure builders of what members read: status lines, result embeds, error texts, escaping.

Nothing here does I/O, so every message the bot can send is testable without a live Discord.
"""
