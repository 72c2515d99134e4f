"""Staff API tokens: `POST /api/v1/auth/token` with a staff user's username and password."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import authenticate
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
