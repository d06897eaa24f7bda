from importlib.util import find_spec

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("usage_rollup.urls")),
]

# Prometheus metrics where the optional "metrics" extra (prometheus-client) is installed.
if find_spec("prometheus_client") is not None:
    from usage_rollup.metrics import metrics_view

    urlpatterns.append(path("metrics/", metrics_view, name="usage-rollup-metrics"))
