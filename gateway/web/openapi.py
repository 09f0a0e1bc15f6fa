"""The OpenAPI 3 description of /api/ (served at /api/openapi.json)."""

from __future__ import annotations

from typing import Any

ERROR = {"$ref": "#/components/schemas/Error"}
TPS_CODE = {"type": "string", "pattern": "^[0-9]{13}$"}
STATES = ["none", "queued", "processing", "read", "needs_review", "rejected", "confirmed",
          "reviewed", "discarded", "superseded", "manual"]


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {400: "Bad request or missing CSRF token", 401: "Not signed in",
             403: "Role not allowed", 404: "Not found or not yours", 409: "State conflict",
             413: "Request too large", 422: "Refused input (message says why)"}
    return {str(c): _json(ERROR, words[c]) for c in codes}


CSRF_HEADER = {
    "name": "X-CSRFToken",
    "in": "header",
    "required": True,
    "schema": {"type": "string"},
    "description": "Token from GET /api/csrf or /api/session.",
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message", "message_en"],
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string", "description": "Bahasa Indonesia"},
            "message_en": {"type": "string"},
        },
    },
    "Session": {
        "type": "object",
        "required": ["login", "role", "csrf_token"],
        "properties": {
            "login": {"type": "string"},
            "role": {"type": "string", "enum": ["kpps", "ppk", "admin", "observer"]},
            "tps": {"type": ["string", "null"]},
            "csrf_token": {"type": "string"},
        },
    },
    "UploadResult": {
        "type": "object",
        "required": ["uploads"],
        "properties": {
            "uploads": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["upload_id", "sha256", "duplicate", "state"],
                    "properties": {
                        "upload_id": {"type": "integer"},
                        "sha256": {"type": "string"},
                        "duplicate": {"type": "boolean"},
                        "state": {"type": "string"},
                    },
                },
            }
        },
    },
    "Field": {
        "type": "object",
        "required": ["name", "value", "flagged"],
        "properties": {
            "name": {"type": "string"},
            "label": {"type": "string"},
            "text": {"type": ["string", "null"]},
            "read": {"type": ["integer", "null"], "description": "machine reading"},
            "value": {"type": ["integer", "null"], "description": "current value"},
            "confidence": {"type": ["number", "null"]},
            "flagged": {"type": "boolean"},
            "reason": {"type": ["string", "null"]},
            "source": {"type": "string", "enum": ["machine", "kpps", "ppk", "manual"],
                       "description": "who set the current value"},
            "actor": {"type": ["string", "null"]},
            "at": {"type": ["string", "null"], "description": "UTC ISO time of the change"},
            "note": {"type": ["string", "null"], "description": "reason given for it"},
        },
    },
    "Upload": {
        "type": "object",
        "required": ["id", "tps", "state", "fields", "reasons"],
        "properties": {
            "id": {"type": "integer"},
            "tps": TPS_CODE,
            "page": {"type": ["integer", "null"]},
            "state": {"type": "string", "enum": STATES},
            "reasons": {"type": "array", "items": {"type": "string"}},
            "fields": {"type": "array", "items": {"$ref": "#/components/schemas/Field"}},
            "checks": {"type": "array", "items": {"type": "object"}},
            "corrections": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Page": {
        "type": "object",
        "required": ["page", "state"],
        "properties": {
            "page": {"type": "integer", "minimum": 1, "maximum": 3},
            "state": {"type": "string", "enum": STATES},
            "upload_id": {"type": ["integer", "null"]},
            "relay": {"type": ["string", "null"]},
        },
    },
}


def openapi_document() -> dict[str, Any]:
    page_list = {"type": "array", "items": {"$ref": "#/components/schemas/Page"}}
    upload_id = {"name": "upload_id", "in": "path", "required": True,
                 "schema": {"type": "integer", "minimum": 0, "maximum": 2**62}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Titik box API",
            "version": "1",
            "description": "Session cookie authentication; POST needs the X-CSRFToken header.",
        },
        "paths": {
            "/api/csrf": {"get": {"summary": "CSRF token for this session",
                                  "responses": {"200": _json({"type": "object"}, "token")}}},
            "/api/session": {
                "get": {
                    "summary": "Who is signed in",
                    "responses": {"200": _json({"$ref": "#/components/schemas/Session"}, "ok"),
                                  **_errors(401)},
                },
                "post": {
                    "summary": "Sign in",
                    "parameters": [CSRF_HEADER],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"type": "object", "required": ["login", "pin"],
                                   "properties": {"login": {"type": "string"},
                                                  "pin": {"type": "string"}}}}}},
                    "responses": {"200": _json({"$ref": "#/components/schemas/Session"}, "ok"),
                                  **_errors(400, 401)},
                },
            },
            "/api/uploads": {
                "post": {
                    "summary": "Upload a photo (KPPS: own TPS; PPK: any TPS, photo or PDF)",
                    "parameters": [CSRF_HEADER],
                    "requestBody": {"required": True, "content": {"multipart/form-data": {
                        "schema": {"type": "object", "required": ["photo"], "properties": {
                            "photo": {"type": "string", "format": "binary"},
                            "tps": TPS_CODE,
                            "replace": {"type": "string", "enum": ["0", "1"]}}}}}},
                    "responses": {
                        "201": _json({"$ref": "#/components/schemas/UploadResult"}, "stored"),
                        "200": _json({"$ref": "#/components/schemas/UploadResult"},
                                     "already stored (same photo)"),
                        **_errors(400, 401, 403, 413, 422),
                    },
                }
            },
            "/api/uploads/{upload_id}": {
                "get": {
                    "summary": "An upload with its reading and current values",
                    "parameters": [upload_id],
                    "responses": {"200": _json({"$ref": "#/components/schemas/Upload"}, "ok"),
                                  **_errors(401, 403, 404)},
                }
            },
            "/api/uploads/{upload_id}/confirm": {
                "post": {
                    "summary": "KPPS confirms a reading, optionally correcting fields",
                    "parameters": [upload_id, CSRF_HEADER],
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"type": "object", "properties": {"corrections": {
                            "type": "object",
                            "additionalProperties": {"type": "integer", "minimum": 0,
                                                     "maximum": 999}}}}}}},
                    "responses": {"200": _json({"$ref": "#/components/schemas/Upload"}, "ok"),
                                  **_errors(400, 401, 403, 404, 409, 422)},
                }
            },
            "/api/tps/{code}": {
                "get": {
                    "summary": "State of pages 1-3 of a TPS",
                    "parameters": [{"name": "code", "in": "path", "required": True,
                                    "schema": {"type": "string"}}],
                    "responses": {
                        "200": _json({"type": "object", "required": ["tps", "pages"],
                                      "properties": {"tps": TPS_CODE, "pages": page_list}}, "ok"),
                        **_errors(401, 403, 404),
                    },
                }
            },
            "/api/overview": {
                "get": {
                    "summary": "Kecamatan overview: every TPS, expected vs received",
                    "responses": {"200": _json({"type": "object",
                                                "required": ["kecamatan", "totals", "tps"]},
                                               "ok"), **_errors(401, 403)},
                }
            },
        },
        "components": {"schemas": SCHEMAS},
    }
