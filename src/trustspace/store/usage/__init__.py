"""Usage control storage: the provider's usage counters per agreement and the consumer's protected store."""
