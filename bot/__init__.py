"""Channel adapters, the `sellerbot` command line, configuration and start-up."""
