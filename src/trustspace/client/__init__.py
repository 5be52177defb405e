"""httpx clients for every TrustSpace API, used by the CLI, the demo, other services and tests."""
