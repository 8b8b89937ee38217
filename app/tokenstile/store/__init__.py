"""The SQL adapters: SQLAlchemy Core over SQLite (one machine) or PostgreSQL (a fleet).

Each module implements a port that the use cases define: ``token_tx`` the tokens'
``TokenTx``, ``otp_repository``, ``piv_repository`` and ``webauthn_repository`` the
factors' transaction protocols, ``admin_repository`` the admin API's reads and writes.
``database`` makes engines and runs the Alembic ``migrations``; ``schema`` is the tables;
``rows`` reads rows into the model; ``repository`` is the ``Store`` (transactions);
``clients`` the client directory; ``purge`` and ``rate_limit`` the housekeeping and the
shared rate limits; ``group_commit`` batches SQLite commits. Nothing here reads the
settings: the deployment hands the store plain values.
"""
