"""Storage: the database handle and its transactions (db), the mapped tables (models), Alembic glue
(migrate, with the seeders the composition root registers) and keyset pagination.

It imports nothing of engine/ but engine.errors and engine.clock: every other package may use it.
"""
