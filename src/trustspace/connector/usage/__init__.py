"""Usage control at the consumer (issue 11, item 5): the protected store, the usage API and its obligations."""
