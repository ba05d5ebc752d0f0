"""Page views: render a template with the page config; the JavaScript does the rest.

Pages that only make sense signed in (portfolio, history) send anonymous visitors to the
sign-in page with ``?next=``; the API stays the authority (a revoked session gets 401 there
and the page goes back to sign-in).
"""

from __future__ import annotations

from functools import wraps

from django.conf import settings
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_safe

from config.pages.page_config import page_config


def _render(request, template: str, page: str, config: dict | None = None, **extra):
    user = request.user if request.user.is_authenticated else None
    context = {
        "page": page,
        "page_config": config or page_config(),
        "user_address": getattr(user, "address", None) or (user.get_username() if user else None),
        **extra,
    }
    return render(request, template, context)


def signed_in(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"{reverse('signin')}?next={request.path}")
        return view(request, *args, **kwargs)

    return wrapper


def _chosen_market(config: dict, requested: str | None) -> dict:
    """The trade page's market: ``?market=`` when it names a listed market, else the default."""
    markets = {m["symbol"]: m for m in config["markets"]}
    chosen = markets.get((requested or "").upper()) or markets.get(config["symbol"])
    return chosen or next(iter(markets.values()), {})


@require_safe
def trade(request):
    config = page_config()
    market = _chosen_market(config, request.GET.get("market"))
    token = [m for m in config["markets"] if m.get("index_symbol") == market.get("index_symbol")]
    spot = next((m for m in token if m["kind"] == "spot"), None)
    perp = next((m for m in token if m["kind"] == "perp"), None)
    return _render(request, "pages/trade.html", "trade", config=config, market=market, spot=spot, perp=perp)


@require_safe
def signin(request):
    target = request.GET.get("next", "")
    safe = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=False)
    return _render(request, "pages/signin.html", "signin", next_url=target if safe and target else "/trade/")


@require_safe
@signed_in
def portfolio(request):
    return _render(request, "pages/portfolio.html", "portfolio")


@require_safe
@signed_in
def history(request):
    return _render(request, "pages/history.html", "history")


@require_safe
def leaderboard(request):
    return _render(request, "pages/leaderboard.html", "leaderboard")


@require_safe
def status(request):
    return _render(request, "pages/status.html", "status")


@require_safe
def page_config_json(request):
    return JsonResponse(page_config())


@require_safe
def static_file(request, path: str):
    """Serve ``/static/<path>``: from ``STATIC_ROOT`` after collectstatic, else from the app and
    ``static/`` folders (the finders). daphne serves no static files by itself and the pages must
    work without a CDN or a separate web server; a front proxy may still serve STATIC_ROOT directly."""
    from pathlib import Path

    from django.contrib.staticfiles import finders
    from django.http import Http404
    from django.views.static import serve

    root = Path(settings.STATIC_ROOT) if settings.STATIC_ROOT else None
    if root is not None and (root / path).is_file():
        response = serve(request, path, document_root=str(root))
    else:
        found = finders.find(path)
        if not found:
            raise Http404(path)
        found_path = Path(found)
        response = serve(request, found_path.name, document_root=str(found_path.parent))
    response["Cache-Control"] = "no-cache" if settings.DEBUG else "public, max-age=300"
    return response
