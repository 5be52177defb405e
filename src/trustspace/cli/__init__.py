"""The ``trustspace`` command line."""
