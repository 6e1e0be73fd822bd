"""/api/v1/providers: thin; every write goes through providers.services."""

# No `from __future__ import annotations` here: django-ninja reads these signatures at
# runtime, and string annotations do not resolve through the @paginate wrapper.

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Path, Query, Router
from ninja.pagination import paginate
from ninja.responses import Status

from providers.models import LLMProvider
from providers.schemas import ProviderFilters, ProviderIn, ProviderOut, ProviderPatch
from providers.selectors import provider_list
from providers.services import provider_create, provider_delete, provider_request_validation, provider_update
from tradingagents.auth import require_perm, require_read
from tradingagents.schemas import AUTH_ERRORS, MAX_ID, READ_ERRORS, WRITE_ERRORS, ErrorOut, Page
from tradingagents.throttling import UserRateThrottle

router = Router(tags=["providers"])

ProviderId = Path(..., ge=1, le=MAX_ID)


class ValidateThrottle(UserRateThrottle):
    """Per user: each validation is a call to the vendor."""

    scope = "provider_validate"


validate_throttle = ValidateThrottle(getattr(settings, "API_VALIDATE_RATE", "10/m"))


@router.get("/providers", response={200: list[ProviderOut], **AUTH_ERRORS})
@paginate(Page)
def list_providers(request: HttpRequest, filters: ProviderFilters = Query(...)) -> QuerySet[LLMProvider]:
    require_read(request, "providers.llmprovider")
    qs = provider_list()
    if filters.provider_type is not None:
        qs = qs.filter(provider_type=filters.provider_type)
    if filters.enabled is not None:
        qs = qs.filter(enabled=filters.enabled)
    if filters.validation_status is not None:
        qs = qs.filter(validation_status=filters.validation_status)
    if filters.q:
        qs = qs.filter(name__icontains=filters.q)
    return qs.order_by(filters.ordering, "pk")


@router.post("/providers", response={201: ProviderOut, **WRITE_ERRORS})
def create_provider(request: HttpRequest, payload: ProviderIn):
    require_perm(request, "providers.add_llmprovider")
    data = payload.dict()
    provider = provider_create(**data, user=request.auth)
    return Status(201, provider)


@router.get("/providers/{provider_id}", response={200: ProviderOut, **READ_ERRORS})
def get_provider(request: HttpRequest, provider_id: int = ProviderId):
    require_read(request, "providers.llmprovider")
    return get_object_or_404(LLMProvider, pk=provider_id)


@router.patch("/providers/{provider_id}", response={200: ProviderOut, **WRITE_ERRORS})
def update_provider(request: HttpRequest, payload: ProviderPatch, provider_id: int = ProviderId):
    require_perm(request, "providers.change_llmprovider")
    provider = get_object_or_404(LLMProvider, pk=provider_id)
    data = payload.dict(exclude_unset=True)
    api_key = data.pop("api_key", None)
    return provider_update(provider=provider, data=data, api_key=api_key, user=request.auth)


@router.delete("/providers/{provider_id}", response={204: None, **WRITE_ERRORS})
def delete_provider(request: HttpRequest, provider_id: int = ProviderId):
    require_perm(request, "providers.delete_llmprovider")
    provider = get_object_or_404(LLMProvider, pk=provider_id)
    provider_delete(provider=provider, user=request.auth)
    return Status(204, None)


@router.post(
    "/providers/{provider_id}/validate",
    response={202: ProviderOut, 429: ErrorOut, **READ_ERRORS},
    throttle=[validate_throttle],
)
def validate_provider(request: HttpRequest, provider_id: int = ProviderId):
    """Check the credentials in the background (throttled per user); the provider is
    `pending` until the check reports, live on the `providers` websocket topic."""
    require_perm(request, "providers.change_llmprovider")
    provider = get_object_or_404(LLMProvider, pk=provider_id)
    return Status(202, provider_request_validation(provider=provider, user=request.auth))
