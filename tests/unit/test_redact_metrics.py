"""Redaction (secrets never shown) and the one Prometheus parser (labels with spaces, namespaces)."""
from __future__ import annotations

import math

from ops import metrics
from ops.change.diff import config_difference
from ops.checks.verify import pool_total_samples
from ops.redact import REDACTED, environment_value, redact_containers, redact_task_definition, scrub


def test_secret_names_are_masked_and_url_passwords_cut() -> None:
    assert environment_value("DATABASE_PASSWORD", "hunter2") == REDACTED
    assert environment_value("api_token", "x") == REDACTED
    assert environment_value("DATABASE_URL", "postgres://app:pg-pass@db:5432/app") == f"postgres://app:{REDACTED}@db:5432/app"
    assert environment_value("LOG_LEVEL", "info") == "info"


def test_redacting_containers_copies() -> None:
    containers = [{"name": "api", "environment": [{"name": "API_SECRET", "value": "s3"}, {"name": "PORT", "value": "80"}]}]
    shown = redact_containers(containers)
    assert shown[0]["environment"] == [{"name": "API_SECRET", "value": REDACTED}, {"name": "PORT", "value": "80"}]
    assert containers[0]["environment"][0]["value"] == "s3"
    document = redact_task_definition({"taskDefinition": {"containerDefinitions": containers}})
    assert "s3" not in str(document)


def test_scrub_removes_every_form_of_a_secret() -> None:
    secret = 'tok"en\n'
    for text in (f"echo {secret}", f"echo {secret!r}", "echo " + secret.encode("unicode_escape").decode()):
        assert "tok" not in scrub(text, secret)
    assert scrub("nothing", None) == "nothing"


def test_config_difference_masks_secrets_and_ignores_images() -> None:
    current = {"revision": 9, "cpu": "256", "containerDefinitions": [{"name": "api", "image": "a:9", "environment": [
        {"name": "APP_VERSION", "value": "v9"}, {"name": "DB_PASSWORD", "value": "new"}]}]}
    target = {"revision": 8, "cpu": "512", "containerDefinitions": [{"name": "api", "image": "a:8", "environment": [
        {"name": "APP_VERSION", "value": "v8"}, {"name": "DB_PASSWORD", "value": "old"}]}]}
    lines = config_difference(current, target)
    assert "cpu: '256' -> '512'" in lines
    assert "containerDefinitions[api].environment[APP_VERSION]: 'v9' -> 'v8'" in lines
    assert "containerDefinitions[api].environment[DB_PASSWORD]: (secret value changed, not shown)" in lines
    assert not any("image" in line or "old" in line or "new" in line or "revision" in line for line in lines)
    assert config_difference(current, current) == []


def test_prometheus_samples_with_labels_namespaces_and_comments() -> None:
    text = ('# HELP pool_total Sandboxes.\n# TYPE pool_total gauge\n'
            'pool_total{region="eu west",note="a \\"quoted\\" }"} 7\n'
            'broker_pool_total 4.5 1700000000000\n'
            'pool_total_bytes 5\n'
            'pool_available{} NaN\n'
            'broken{region="x" 3\n'
            'not a sample\n')
    samples = metrics.parse(text)
    assert [(s.name, s.text) for s in samples] == [
        ("pool_total", "7"), ("broker_pool_total", "4.5"), ("pool_total_bytes", "5"), ("pool_available", "NaN")]
    assert samples[0].labels == {"region": "eu west", "note": 'a "quoted" }'}
    assert pool_total_samples(text) == ["7", "4.5"]
    totals = metrics.totals(samples)
    assert totals["pool_total"] == 7 and "pool_available" not in totals
    assert math.isnan(samples[3].value)


def test_totals_sum_over_labels() -> None:
    text = 'http_errors_total{code="500"} 2\nhttp_errors_total{code="503"} 3\n'
    assert metrics.totals(metrics.parse(text)) == {"http_errors_total": 5.0}
