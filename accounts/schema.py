"""OpenAPI security schemes for accounts' authentication classes (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class ApiKeyHeaderScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiKeyHeaderAuthentication"
    name = ["apcaKeyId", "apcaSecretKey"]

    def get_security_definition(self, auto_schema):
        return [
            {"type": "apiKey", "in": "header", "name": "APCA-API-KEY-ID"},
            {"type": "apiKey", "in": "header", "name": "APCA-API-SECRET-KEY"},
        ]


class BearerScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.BearerAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A session token (sps_…) from /api/v1/auth/verify or an API-key secret (spk_…).",
        }


class CookieScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.CookieSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
