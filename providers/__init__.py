"""providers: AI voice-agent providers, assistants, stream URLs, tools and media (to come)."""

__all__: list[str] = []
