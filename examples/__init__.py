"""Host bots that serve sellerbot beside work of their own (see the README, "Inside your own bot")."""
