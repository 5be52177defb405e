"""Storage of membership."""
