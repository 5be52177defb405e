"""Identity: DIDs (did:key, did:web), verifiable credentials (VC 2.0, eddsa-jcs-2022) and status lists.

Pure code: nothing here opens a socket or a database except ``DidResolver``'s default fetch, which callers
replace in tests and simulations.
"""
