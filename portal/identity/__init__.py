"""Who a person or a member of staff is.

auth (the OpenID Connect relying party and the route guards), sign_in, subjects (people, created
at their first sign-in), staff, national_id (Norwegian and Swedish numbers),
identifiers (identifiers staff link to a person) and cli (``portal identifier``).
"""
