"""The HTTP shell shared by the operator and connector services."""
