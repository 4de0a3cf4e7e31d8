"""Pictures of recorded fake-Discord messages, drawn as Discord's dark theme shows them.

    picture = render_message(message, scene_of(fake_discord, message, viewer=alice))

`message.py` composes a message from its parts (`richtext.py` for markdown, `embed.py`,
`attachments.py`, `components.py`); `scene.py` resolves names and times; `readme.py` (run as
`python -m tests.pictures`, or `make pictures`) draws the README's pictures from a real run.
Test support only: nothing in the bot imports it.
"""
