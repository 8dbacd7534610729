"""flows: PBX routing and VoIPBIN-style flows (to come), and the ``cxml`` command line."""

__all__: list[str] = []
