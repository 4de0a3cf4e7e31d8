"""/help: what the bot does and how to use it."""

from __future__ import annotations

HELP_TEXT = """\
**Lyria Jam** turns a few words into about 30 seconds of music with Google's Lyria 2.

**/compose** `prompt` — describe the music: genre, mood, instruments, tempo. \
Optional: `negative_prompt` (what to leave out) and `seed` (the same seed and prompt give \
the same piece).
Under a finished piece: **Re-roll** tries the same prompt with a new seed, **Variation** lets \
you edit the prompt and keeps the seed. **Cancel** stops a piece still waiting in the queue.
**/quota** — how many pieces you and this server have left; moderators manage limits there.
**/jam** — jam sessions: a host starts one (`/jam start`), members enter with /compose in its \
thread, vote on each round's entries, and get a leaderboard and an export at the end.

Each piece uses one of your credits and one from the server's daily pool. \
Failed pieces that never reached the music service give the credit back."""
