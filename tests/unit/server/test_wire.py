"""``server.wire``: the JSON answers and the strict body readers every route shares."""

from __future__ import annotations

import asyncio
import json

import pytest
from starlette.requests import Request

from tokenstile.errors import InvalidRequest
from tokenstile.server.wire import (
    FORM,
    JSON,
    MAX_FORM_BYTES,
    NO_STORE,
    is_json,
    json_object,
    json_response,
    no_store_json,
    read_form,
    request_origin,
    require_json,
)


def request(
    body: bytes = b"",
    *,
    content_type: str | None = None,
    agent: str | None = None,
    client: tuple[str, int] | None = ("192.0.2.7", 50000),
) -> Request:
    headers = []
    if content_type is not None:
        headers.append((b"content-type", content_type.encode()))
    if agent is not None:
        headers.append((b"user-agent", agent.encode()))
    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "client": client}
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


def refusal(exc: pytest.ExceptionInfo[InvalidRequest]) -> str:
    return exc.value.message


# -- answers -------------------------------------------------------------------------------------


def test_json_response_is_compact_with_exactly_the_headers_given() -> None:
    response = json_response({"a": [1, 2], "b": "é"}, 201, {"X-One": "1"})
    assert response.status_code == 201
    assert response.body == b'{"a":[1,2],"b":"\\u00e9"}'
    assert response.media_type == JSON
    assert response.headers["x-one"] == "1"
    assert "cache-control" not in response.headers


def test_json_response_media_type() -> None:
    response = json_response({"keys": []}, media_type="application/jwk-set+json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/jwk-set+json"


def test_no_store_json_adds_no_store_before_the_extra_headers() -> None:
    plain = no_store_json({"ok": True})
    assert plain.status_code == 200
    assert plain.headers["cache-control"] == "no-store"
    assert plain.headers["pragma"] == "no-cache"
    extra = no_store_json({}, 401, {"WWW-Authenticate": 'Bearer realm="x"'})
    assert [name for name, _ in extra.raw_headers][:3] == [
        b"cache-control",
        b"pragma",
        b"www-authenticate",
    ]
    assert dict(NO_STORE) == {"Cache-Control": "no-store", "Pragma": "no-cache"}


# -- where a request came from -------------------------------------------------------------------


def test_request_origin_is_the_peer_and_a_short_user_agent() -> None:
    assert request_origin(request(agent="kiosk/1.0")) == "192.0.2.7 kiosk/1.0"
    assert request_origin(request(agent="x" * 500)) == "192.0.2.7 " + "x" * 120
    assert request_origin(request()) == "192.0.2.7"
    assert request_origin(request(client=None, agent="a")) == "? a"


# -- JSON bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [JSON, "application/json; charset=utf-8", " Application/JSON ", "application/ld+json"],
)
def test_json_media_types(content_type: str) -> None:
    assert is_json(request(content_type=content_type))
    require_json(request(content_type=content_type))


@pytest.mark.parametrize("content_type", [None, "", FORM, "text/json", "text/plain+json"])
def test_other_media_types_are_refused(content_type: str | None) -> None:
    assert not is_json(request(content_type=content_type))
    with pytest.raises(InvalidRequest) as exc:
        require_json(request(content_type=content_type))
    assert refusal(exc) == f"Send the parameters as {JSON}."


def test_json_object() -> None:
    assert json_object(b'{"a": 1, "b": {"c": [true, null]}}', 100) == {
        "a": 1,
        "b": {"c": [True, None]},
    }
    body = json.dumps({"pad": "x" * 90}).encode()
    assert json_object(body, len(body)) == {"pad": "x" * 90}


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (b'{"pad": "' + b"x" * 100 + b'"}', "The request body is too large."),
        (b"{", "The request body is not valid JSON."),
        (b"", "The request body is not valid JSON."),
        (b'{"a": "\xff"}', "The request body is not valid JSON."),
        (b"[1, 2]", "The request body must be a JSON object."),
        (b'"text"', "The request body must be a JSON object."),
        (b'{"a": 1, "a": 2}', "The member a is repeated."),
        (b'{"outer": {"b": 1, "b": 1}}', "The member b is repeated."),
    ],
)
def test_json_object_refusals(body: bytes, description: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        json_object(body, 100)
    assert refusal(exc) == description


def test_deep_nesting_is_invalid_json_not_a_crash() -> None:
    with pytest.raises(InvalidRequest) as exc:
        json_object(b"[" * 5000, 16 * 1024)
    assert refusal(exc) == "The request body is not valid JSON."


# -- form bodies ---------------------------------------------------------------------------------


def test_read_form() -> None:
    form = asyncio.run(
        read_form(request(b"grant_type=refresh_token&scope=a+b&empty=", content_type=FORM))
    )
    assert form == {"grant_type": "refresh_token", "scope": "a b", "empty": ""}
    charset = f"{FORM}; charset=UTF-8"
    assert asyncio.run(read_form(request(b"a=%C3%A9", content_type=charset))) == {"a": "é"}


@pytest.mark.parametrize(
    ("body", "content_type", "description"),
    [
        (b"a=1", JSON, f"Send the parameters as {FORM}."),
        (b"a=1", None, f"Send the parameters as {FORM}."),
        (b"a=" + b"x" * MAX_FORM_BYTES, FORM, "The request body is too large."),
        (b"a=\xff", FORM, "The request body is not valid form data."),
        (b"a=1&b=2&a=1", FORM, "The parameter a is repeated."),
    ],
)
def test_read_form_refusals(body: bytes, content_type: str | None, description: str) -> None:
    with pytest.raises(InvalidRequest) as exc:
        asyncio.run(read_form(request(body, content_type=content_type)))
    assert refusal(exc) == description


def test_read_form_limit() -> None:
    with pytest.raises(InvalidRequest) as exc:
        asyncio.run(read_form(request(b"a=12345", content_type=FORM), limit=4))
    assert refusal(exc) == "The request body is too large."
