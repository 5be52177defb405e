"""The consumer's protected store: encrypted items, their keys, the usage log, destruction certificates."""
