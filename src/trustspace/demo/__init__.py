"""``trustspace demo``: the story of a data space, played on this machine as real processes."""
