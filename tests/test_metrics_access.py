"""Who may read the metrics view (usage_rollup/access.py): Prometheus with the bearer token, a
signed-in user with the permission to view the rollup state, and nobody else."""

import pytest
from django.contrib.auth.models import Permission, User

from usage_rollup import access

TOKEN = "s3cret-scrape-token"


@pytest.fixture
def token(settings):
    settings.USAGE_ROLLUP_METRICS_TOKEN = TOKEN


def _get(client, authorization: str | None = None):
    headers = {} if authorization is None else {"Authorization": authorization}
    return client.get("/metrics/", headers=headers)


def _user(*codenames: str) -> User:
    user = User.objects.create_user("reader")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_the_bearer_token_scrapes_the_metrics(client, db, token):
    response = _get(client, f"Bearer {TOKEN}")

    assert response.status_code == 200
    assert b"usage_rollup_lag_seconds" in response.content


def test_the_bearer_scheme_is_case_insensitive(client, db, token):
    assert _get(client, f"bearer {TOKEN}").status_code == 200


def test_the_token_is_compared_in_constant_time(client, db, token, monkeypatch):
    compared = []
    monkeypatch.setattr(
        access.hmac, "compare_digest", lambda a, b: compared.append((a, b)) or a == b
    )

    _get(client, "Bearer a-guess")

    assert compared == [(b"a-guess", TOKEN.encode())]


@pytest.mark.parametrize("sent", ["Bearer a-guess", "Bearer ", f"Bearer {TOKEN}x"])
def test_a_wrong_bearer_token_is_a_401_with_a_reason(client, db, token, sent):
    response = _get(client, sent)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"the bearer token is not this server's metrics token" in response.content


@pytest.mark.parametrize("sent", [None, f"Basic {TOKEN}"])
def test_anonymous_without_the_token_is_a_401_asking_for_it(client, db, token, sent):
    response = _get(client, sent)

    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"Authorization: Bearer <token>" in response.content


def test_anonymous_with_no_token_configured_is_a_403_saying_how_to_configure_one(client, db):
    response = _get(client)

    assert response.status_code == 403
    assert b"set USAGE_ROLLUP_METRICS_TOKEN" in response.content
    assert b"authorization:" in response.content


def test_a_bearer_token_when_none_is_configured_is_a_403(client, db):
    response = _get(client, "Bearer anything")

    assert response.status_code == 403
    assert b"this server has no metrics token" in response.content


def test_a_user_with_the_view_permission_of_the_rollup_state_reads_the_metrics(client, db):
    client.force_login(_user("view_taskusagerollupstate"))

    assert _get(client).status_code == 200


def test_a_user_without_that_permission_is_a_403_naming_it(client, db, token):
    client.force_login(_user("view_taskusagedaily"))

    response = _get(client)

    assert response.status_code == 403
    assert access.METRICS_PERMISSION.encode() in response.content
