"""The connector's data plane: what a provider serves (sources), who may fetch it (access tokens checked
against the transfer's state on every request), how bytes move (pull with Range and resume, push into a
consumer's inbox), and how both ends prove they hold the same bytes (SHA-256, RFC 9530 ``Repr-Digest``)."""
