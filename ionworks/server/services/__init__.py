"""Work behind the handlers that is not HTTP: checks of uploaded measurement files."""
