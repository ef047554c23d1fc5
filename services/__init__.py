"""Domain services: every rule of the platform lives here, once.

Service functions are keyword-only, take the database session and the policy they
enforce, and return typed results; a refusal is a value naming each failed rule,
never an exception the chat layer must decode.
"""
