"""Scripts that exercise plan-watcher at length and print figures (the soak, the scale bench)."""
