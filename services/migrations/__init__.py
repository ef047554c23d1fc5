"""Alembic migrations of the sellerbot database (shipped inside the package, run by
`sellerbot db upgrade` or automatically at start-up; see services/db.py)."""
