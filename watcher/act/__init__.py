"""Acting on decisions: the purchase journal and the one safe way to buy an extension."""
