"""Front ends on top of the public API: command line, web server, HTML report, Ray Data."""
