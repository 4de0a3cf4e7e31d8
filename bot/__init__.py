"""lyria-jam-bot: turn a text prompt into music on Discord with Lyria 2."""
