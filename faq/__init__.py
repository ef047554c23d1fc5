"""The knowledge base (one file per intent) and the matcher that maps a question to an intent."""
