from trustspace.cli.main import app

app(prog_name="trustspace")
