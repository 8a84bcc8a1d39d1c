"""The OpenAPI 3.1 document for the washing API, served at /api/openapi.json.

Written by hand (the API is one operation); a test checks that its paths and methods are the
app's API routes and that real answers validate against its schemas.
"""

from __future__ import annotations

from typing import Any

from portal.marketing.api_check import CHANNELS, MAX_NUMBERS
from portal.marketing.block_list import Reason


def openapi_document(base_url: str) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Innsyn washing API",
            "version": "1",
            "description": (
                "Check phone numbers against the global block list before calling them: "
                "reservations, objections to direct marketing, withdrawn or expired consents, "
                "external registers (Reservasjonsregisteret, NIX-Telefon) and the deceased."
            ),
        },
        "servers": [{"url": base_url}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/block-list/check": {
                "post": {
                    "operationId": "checkNumbers",
                    "summary": "The block-list status of each number in a batch",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/CheckRequest"}
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "One result per number, in the order sent",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/CheckResponse"}
                                }
                            },
                        },
                        "400": {
                            "description": "The body is not a valid check",
                            "content": {"application/json": {"schema": error}},
                        },
                        "401": {
                            "description": "No token, or an unknown or revoked one",
                            "content": {"application/json": {"schema": error}},
                        },
                        "413": {
                            "description": "The body is larger than the portal's limit "
                            "(BODY_LIMIT_API_KB)",
                            "content": {"application/json": {"schema": error}},
                        },
                        "429": {
                            "description": "Too many checks with this token in a minute "
                            "(RATE_LIMIT_API_PER_MINUTE)",
                            "headers": {
                                "Retry-After": {
                                    "description": "Seconds until the token may check again",
                                    "schema": {"type": "integer"},
                                }
                            },
                            "content": {"application/json": {"schema": error}},
                        },
                    },
                }
            }
        },
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token an administrator created at /staff/api-tokens",
                }
            },
            "schemas": {
                "CheckRequest": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["numbers"],
                    "properties": {
                        "numbers": {
                            "type": "array",
                            "items": {"type": "string"},
                            "minItems": 1,
                            "maxItems": MAX_NUMBERS,
                            "description": "Phone numbers in any usual form; without a country "
                            "code they belong to the portal's PHONE_REGION",
                        },
                        "channel": {"type": "string", "enum": list(CHANNELS), "default": "phone"},
                        "purpose": {
                            "type": "string",
                            "description": "A consent purpose of the data map: withdrawn "
                            "consents then block only when they are for this purpose",
                        },
                    },
                },
                "CheckResponse": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["channel", "results"],
                    "properties": {
                        "channel": {"type": "string", "enum": list(CHANNELS)},
                        "results": {
                            "type": "array",
                            "items": {"$ref": "#/components/schemas/Result"},
                        },
                    },
                },
                "Result": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["number", "e164", "status", "reasons"],
                    "properties": {
                        "number": {"type": "string", "description": "As sent"},
                        "e164": {"type": ["string", "null"], "description": "Null if invalid"},
                        "status": {"type": "string", "enum": ["clear", "blocked", "invalid"]},
                        "reasons": {
                            "type": "array",
                            "items": {
                                "type": "string",
                                "pattern": "^(" + "|".join(r.value for r in Reason) + ")(:.+)?$",
                            },
                            "description": "e.g. reserved:phone, objected, "
                            "external_register:nix, consent_withdrawn:phone_marketing, deceased",
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string"},
                        "retry_after": {
                            "type": "integer",
                            "description": "With a 429: seconds until the token may check again",
                        },
                    },
                },
            },
        },
    }
