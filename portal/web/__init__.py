"""The web platform every page stands on.

sessions (server-side session records and the cookie), session_memory (a session's /me kept in
memory), viewer (who is looking), csrf, security (response headers), request_log, errors (error
pages), http_protocol (uvicorn's HTTP protocol without Nagle's delay) and the thin-route helper
in ``handlers``. It knows nothing of the domain but the models it reads a viewer from.
"""
