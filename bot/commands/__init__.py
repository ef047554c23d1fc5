"""Subcommands of `sellerbot`, one module per concern; bot/cli.py assembles them."""
