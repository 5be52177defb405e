"""The first commands a newcomer types fail cleanly (issue 15, finding 12): nothing written, no traceback, and
what to do next."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import make_url
from typer.testing import CliRunner

from trustspace.cli.main import app

runner = CliRunner()


def test_connector_init_with_a_bad_url_writes_nothing_and_prints_no_traceback(tmp_path: Path) -> None:
    for url in ("not a url", "http://example.com:8500"):  # plain http on a public host has no did:web
        folder = tmp_path / "connector"
        result = runner.invoke(app, ["connector", "init", "--data-dir", str(folder), "--url", url,
                                     "--operator-url", "http://127.0.0.1:8400"])
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        assert "--url" in result.output
        assert not folder.exists() or not any(folder.iterdir())


def test_operator_start_on_a_missing_postgresql_database_says_how_to_create_it(tmp_path: Path,
                                                                              postgres_url: str) -> None:
    missing = make_url(postgres_url).set(database="trustspace_no_such_db").render_as_string(hide_password=False)
    result = runner.invoke(app, ["operator", "start", "--data-dir", str(tmp_path / "op"), "--database-url",
                                 missing])
    assert result.exit_code == 1, result.output
    assert "does not exist" in result.output and "createdb" in result.output
    assert "Traceback" not in result.output
