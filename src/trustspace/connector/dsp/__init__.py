"""The connector's Dataspace Protocol 2025-1 control plane: processes, outbox worker, HTTP bindings."""
