"""The API's description (contract §3): the OpenAPI schema and its Swagger page.

They answer in YAML, JSON or HTML, and refuse (a wrong method, say) in the contract's JSON
error body, as every endpoint does.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView


class JSONErrorsView(APIView):
    """A view answering in another format whose refusals are rendered as JSON."""

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        if getattr(response, "exception", False):
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class SchemaView(JSONErrorsView, SpectacularAPIView):
    pass


class DocsView(JSONErrorsView, SpectacularSwaggerView):
    # A page: DRF's OPTIONS answer has no template to render it with.
    http_method_names = ["get", "head"]
