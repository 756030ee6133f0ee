"""Action lists: the touch-point calendar and prioritized call lists (scores in, nothing fitted)."""
