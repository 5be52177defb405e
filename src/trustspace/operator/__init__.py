"""The operator service (服务平台): membership, trust list, connector registry, logical spaces."""
