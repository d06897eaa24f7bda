"""Who may read the metrics view: a scraper that sends the bearer token of
USAGE_ROLLUP_METRICS_TOKEN, or a signed-in user with the permission to view the rollup state.

Anyone else is refused with the reason: 401 when a token would let them in (none was sent, or a
wrong one), 403 when nothing they send could (no token is configured, or the user lacks the
permission). The metrics name the rollup's tables, its schedule and its errors, so they are not
for everyone.
"""

import functools
import hmac
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from usage_rollup import config

METRICS_PERMISSION = "usage_rollup.view_taskusagerollupstate"
_CHALLENGE = 'Bearer realm="usage_rollup metrics"'
_HOW_TO = (
    "set USAGE_ROLLUP_METRICS_TOKEN and send it as `Authorization: Bearer <token>` (in "
    "Prometheus, the scrape config's `authorization:` stanza), or sign in as a user with the "
    f"{METRICS_PERMISSION} permission"
)


def _refuse(status: int, reason: str) -> HttpResponse:
    response = HttpResponse(f"{reason}\n", status=status, content_type="text/plain; charset=utf-8")
    if status == 401:
        response["WWW-Authenticate"] = _CHALLENGE
    return response


def _bearer_token(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _token_matches(sent: str, expected: str) -> bool:
    # In constant time: how long a comparison takes must not tell how much of a guess was right.
    return hmac.compare_digest(sent.encode(), expected.encode())


def metrics_access(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Serve `view` to a scraper with the metrics token or a user with METRICS_PERMISSION only."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        expected = config.metrics_token()
        sent = _bearer_token(request)
        user = getattr(request, "user", None)
        if sent is not None:
            if expected is None:
                return _refuse(403, f"this server has no metrics token: {_HOW_TO}")
            if not _token_matches(sent, expected):
                return _refuse(401, "the bearer token is not this server's metrics token")
        elif user is not None and user.is_authenticated:
            if not user.has_perm(METRICS_PERMISSION):
                return _refuse(403, f"the metrics need the {METRICS_PERMISSION} permission")
        elif expected is None:
            return _refuse(403, f"the metrics are not public: {_HOW_TO}")
        else:
            return _refuse(401, "send the metrics token: `Authorization: Bearer <token>`")
        return view(request, *args, **kwargs)

    return guarded
