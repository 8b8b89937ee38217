"""The HTTP face of the token service (FastAPI): OAuth 2.0 and OIDC endpoints, the login
ceremonies of each factor, the admin API.

``app`` builds the ASGI app from the composition root's ``Services`` (one error handler,
``render_error``, for every error); ``*_routes`` are the routes of one factor or of the
admin API; ``admin_auth`` is the admin API's bearer check and ``admin_post`` its
JSON-body endpoints; ``dpop`` checks DPoP proofs at the HTTP edge; ``rate_limit`` applies
the shared rate limits; ``schemas`` and ``admin_schemas`` are the request and answer
models, ``wire`` JSON and forms in and out; ``run`` serves it (``tokenstile server``).
"""
