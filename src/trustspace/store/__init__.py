"""Storage: SQLAlchemy 2 repositories behind small interfaces, Alembic migrations, SQLite or PostgreSQL."""
