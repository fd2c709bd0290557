"""The CLI's commands, one noun per module; each talks to the server only through `cli.admin_client`."""
