"""The web platform every page stands on.

sessions (server-side session records and the cookie), session_memory (a session's /me kept in
memory), viewer (who is looking; staff roles come from identity), csrf, security (response
headers), request_log, errors (error pages), http_protocol (uvicorn's HTTP protocol without
Nagle's delay) and ``handlers`` (``in_db``, ``in_thread``), which keep route handlers thin.
"""
