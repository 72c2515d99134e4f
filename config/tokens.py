"""Staff API tokens: `POST /api/v1/auth/token` with a staff user's username and password;
and the answer to a staff login locked out after too many wrong passwords (django-axes
calls `login_locked_out`, for the token endpoint and the admin's login alike)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.authtoken.models import Token
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import LoginThrottle, StrictCharField, error_body, errors


class LoginSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150, trim_whitespace=False)
    password = StrictCharField(max_length=4096, trim_whitespace=False)


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField()


class AuthTokenView(APIView):
    """Exchange a staff user's username and password for their API token."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    throttle_classes = [LoginThrottle]

    @extend_schema(
        request=LoginSerializer,
        responses={200: TokenSerializer, **errors(400, 429)},
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        login = LoginSerializer(data=request.data)
        login.is_valid(raise_exception=True)
        user = authenticate(
            request._request,
            username=login.validated_data["username"],
            password=login.validated_data["password"],
        )
        if user is None or not user.is_active or not user.is_staff:
            return Response(
                error_body(
                    "invalid_credentials",
                    "No staff user with this username and password.",
                    {"username": "invalid credentials"},
                ),
                status=status.HTTP_400_BAD_REQUEST,
            )
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


def login_locked_out(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """429 for a locked-out login: the API's error body under `/api/`, a page in the admin."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    message = f"Too many failed logins: try again in {minutes} minutes, or ask an administrator."
    headers = {"Retry-After": str(minutes * 60)}
    if request.path.startswith("/api/"):
        body = error_body("locked_out", message, {"username": "locked out"})
        return JsonResponse(body, status=429, headers=headers)
    page = render(
        request,
        "admin/locked_out.html",
        {"title": "Login locked", "message": message, "site_header": "Backorder backoffice"},
        status=429,
    )
    page["Retry-After"] = headers["Retry-After"]
    return page
