"""Auth API: thin views (parse -> one service/selector -> serialise)."""

from __future__ import annotations

from django.conf import settings
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.authentication import cookie_session_close, cookie_session_open
from accounts.permissions import IsAuthenticatedRead, IsSession
from accounts.ratelimit import client_ip


def _expected_domain(request) -> str:
    return settings.SIWS_DOMAIN or request.get_host()


def _expected_uri(request) -> str:
    return settings.SIWS_URI or f"{request.scheme}://{request.get_host()}"


def _browser_like(request) -> bool:
    """Browsers send Origin / Sec-Fetch-* on POSTs; cookie-carrying clients are treated alike."""
    meta = request.META
    return any(name in meta for name in ("HTTP_ORIGIN", "HTTP_SEC_FETCH_SITE", "HTTP_COOKIE"))


def _enforce_login_csrf(request) -> None:
    """Login CSRF: a browser-like request must carry the CSRF cookie + X-CSRFToken (and a same-site Origin)."""
    if not _browser_like(request):
        return
    SessionAuthentication().enforce_csrf(request._request)  # 403 csrf_failed


@extend_schema_serializer(component_name="AuthUser")
class UserOutput(serializers.Serializer):
    id = serializers.IntegerField()
    address = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()


class NonceApi(APIView):
    """Issue a Sign-In With Solana input (and the exact message when the address is given)."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="AuthNonceInput")
    class InputSerializer(serializers.Serializer):
        address = serializers.CharField(required=False, allow_blank=False, max_length=64)

    @extend_schema_serializer(component_name="AuthNonceResponse")
    class OutputSerializer(serializers.Serializer):
        domain = serializers.CharField()
        uri = serializers.CharField()
        statement = serializers.CharField()
        version = serializers.CharField()
        chain_id = serializers.CharField()
        nonce = serializers.CharField()
        issued_at = serializers.CharField()
        expiration_time = serializers.CharField()
        address = serializers.CharField(required=False)
        message = serializers.CharField(required=False)

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data or {})
        data.is_valid(raise_exception=True)
        issued = services.nonce_issue(
            domain=_expected_domain(request),
            uri=_expected_uri(request),
            address=data.validated_data.get("address"),
            ip=client_ip(request),
        )
        if _browser_like(request):
            get_token(request._request)  # the CSRF cookie a browser needs for /auth/verify
        body = self.OutputSerializer(issued).data
        if issued.address is None:
            body.pop("address", None)
            body.pop("message", None)
        return Response(body, status=status.HTTP_201_CREATED)


class VerifyApi(APIView):
    """Verify a signed SIWS message, open a session: bearer token + HttpOnly session cookie."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema_serializer(component_name="AuthVerifyInput")
    class InputSerializer(serializers.Serializer):
        message = serializers.CharField(trim_whitespace=False, max_length=4096)
        signature = serializers.CharField(max_length=256)
        public_key = serializers.CharField(required=False, max_length=64)

    @extend_schema_serializer(component_name="AuthVerifyResponse")
    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        expires_at = serializers.DateTimeField(source="session.expires_at")
        session_id = serializers.UUIDField(source="session.id")
        user = UserOutput()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer})
    def post(self, request):
        _enforce_login_csrf(request)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.session_sign_in(
            message=data.validated_data["message"],
            signature=data.validated_data["signature"],
            public_key=data.validated_data.get("public_key"),
            expected_domain=_expected_domain(request),
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
        )
        cookie_session_open(request, result)
        return Response(self.OutputSerializer(result).data)


class MeApi(APIView):
    permission_classes = [IsAuthenticatedRead]

    @extend_schema_serializer(component_name="AuthMeResponse")
    class OutputSerializer(serializers.Serializer):
        user = UserOutput()
        auth = serializers.DictField()

    @extend_schema(responses={200: OutputSerializer})
    def get(self, request):
        ctx = request.auth
        auth = {"kind": ctx.kind, "session_id": ctx.session_id, "scopes": sorted(ctx.scopes)}
        return Response(self.OutputSerializer({"user": request.user, "auth": auth}).data)


@extend_schema_serializer(component_name="AuthSession")
class SessionOutput(serializers.Serializer):
    id = serializers.UUIDField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    last_seen_at = serializers.DateTimeField(allow_null=True)
    ip = serializers.CharField(allow_null=True)
    user_agent = serializers.CharField()
    current = serializers.SerializerMethodField()

    def get_current(self, obj) -> bool:
        return str(obj.id) == self.context.get("current")


class SessionListApi(APIView):
    permission_classes = [IsSession]

    @extend_schema(responses={200: SessionOutput(many=True)})
    def get(self, request):
        sessions = selectors.session_list(user=request.user)
        return Response(SessionOutput(sessions, many=True, context={"current": request.auth.session_id}).data)


class SessionDeleteApi(APIView):
    permission_classes = [IsSession]

    @extend_schema(responses={204: None})
    def delete(self, request, session_id):
        services.session_revoke(user=request.user, session_id=session_id)
        if str(session_id) == request.auth.session_id and request.auth.kind == "cookie":
            cookie_session_close(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LogoutApi(APIView):
    permission_classes = [IsSession]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        services.session_revoke(user=request.user, session_id=request.auth.session_id)
        cookie_session_close(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_serializer(component_name="ApiKey")
class ApiKeyOutput(serializers.Serializer):
    key_id = serializers.CharField()
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    created_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)


class ApiKeysApi(APIView):
    """GET: list my API keys. POST: create one (the secret is shown once)."""

    permission_classes = [IsSession]

    @extend_schema_serializer(component_name="AuthApiKeysInput")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=64)
        scopes = serializers.ListField(
            child=serializers.ChoiceField(choices=["read", "trade"]), allow_empty=False, max_length=2
        )

    @extend_schema_serializer(component_name="AuthApiKeysCreated")
    class CreatedSerializer(ApiKeyOutput):
        secret = serializers.CharField()

    @extend_schema(responses={200: ApiKeyOutput(many=True)})
    def get(self, request):
        return Response(ApiKeyOutput(selectors.api_key_list(user=request.user), many=True).data)

    @extend_schema(request=InputSerializer, responses={201: CreatedSerializer})
    def post(self, request):
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        key, secret = services.api_key_create(user=request.user, **data.validated_data)
        body = dict(ApiKeyOutput(key).data, secret=secret)
        return Response(body, status=status.HTTP_201_CREATED)


class ApiKeyRevokeApi(APIView):
    permission_classes = [IsSession]

    @extend_schema(responses={204: None})
    def delete(self, request, key_id):
        services.api_key_revoke(user=request.user, key_id=key_id)
        return Response(status=status.HTTP_204_NO_CONTENT)
