"""The `msaas` command: a client of the MSaaS REST API (HTTP only, like any other client)."""
