"""schemathesis against the token service's own OpenAPI document, in-process (ASGI).

Every operation gets generated requests (valid and not: schemathesis's default modes)
and every answer must be no 5xx and match the document: status code, content type,
headers and body schema. Bounded here (a few derandomized examples per operation);
``make fuzz-api`` runs the same with many more.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.conftest import add_user, make_deployment
from tokenstile.clock import SystemClock
from tokenstile.deployment import Deployment
from tokenstile.server.app import create_app

MAX_EXAMPLES = int(os.environ.get("TOKENSTILE_FUZZ_EXAMPLES", "12"))


@pytest.fixture(scope="module")
def fuzzed_deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    path: Path = tmp_path_factory.mktemp("api") / "api.db"
    dep = make_deployment(f"sqlite:///{path}", None)
    add_user(dep, "alice")
    assert isinstance(dep.clock, SystemClock)
    yield dep
    dep.close()


@pytest.fixture(scope="module")
def api(fuzzed_deployment: Deployment) -> schemathesis.schemas.BaseSchema:
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzzed_deployment))


def test_every_operation_answers_within_its_document(
    api: schemathesis.schemas.BaseSchema,
) -> None:
    fuzzed, failed = [], []
    for result in api.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def check(case: schemathesis.Case) -> None:
            # OAuth endpoints refuse requests of the right shape whose content is wrong
            # (an unknown refresh token is a 400 invalid_grant): not a finding.
            case.call_and_validate(excluded_checks=[positive_data_acceptance])

        try:
            check()
        except (Exception, BaseExceptionGroup) as exc:  # fuzz every operation, show all
            failed.append(f"{operation.label}: {exc}")
        fuzzed.append(operation.label)
    assert failed == [], "\n\n".join(failed)
    assert len(fuzzed) > 20, fuzzed  # every route of the app, admin API included
