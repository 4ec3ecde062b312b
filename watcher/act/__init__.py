"""Acting on decisions: the one safe way to buy an extension, the valves before it, and
proposals waiting for a human."""
