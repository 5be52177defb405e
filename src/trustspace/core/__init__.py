"""Pure building blocks shared by every other package: no network, no database, no framework."""
