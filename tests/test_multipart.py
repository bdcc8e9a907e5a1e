"""ionworks._multipart: the result bundle's body format, round trip and malformed bodies."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ionworks.wire import multipart

CT = "multipart/mixed; boundary=b0und"


@given(st.lists(st.binary(max_size=200), min_size=1, max_size=4))
def test_round_trip_of_any_bytes(bodies: list[bytes]) -> None:
    parts = [(f"p{i}", "application/octet-stream", body) for i, body in enumerate(bodies)]
    parsed = multipart.parse(multipart.build("b0und", parts), CT)
    assert parsed == {name: (media, body) for name, media, body in parts}


def test_part_bytes_that_look_like_the_boundary_are_kept() -> None:
    tricky = b"\r\n--b0und\r\nContent-Type: x\r\n\r\n--b0und--\r\n"
    body = multipart.build("b0und", [("a", "application/json", b"{}"), ("b", "x/y", tricky)])
    assert multipart.parse(body, CT)["b"] == ("x/y", tricky)


def test_parts_without_content_length_end_at_the_boundary() -> None:
    body = (
        b'--b0und\r\nContent-Disposition: inline; name="a"\r\n\r\nhello\r\n'
        b"--b0und\r\nContent-Disposition: inline; name=b\r\nContent-Type: t/u\r\n\r\n\r\n"
        b"--b0und--\r\n"
    )
    assert multipart.parse(body, 'multipart/mixed; boundary="b0und"') == {
        "a": ("", b"hello"),
        "b": ("t/u", b""),
    }


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"--b0und--\r\n", "application/json", "not a multipart body"),
        (b"--b0und--\r\n", "multipart/mixed", "not a multipart body"),
        (b"preamble", CT, "does not start with the boundary"),
        (b"--b0undX", CT, "expected CRLF"),
        (b"--b0und\r\nContent-Type: x\r\n", CT, "do not end"),
        (b"--b0und\r\nno colon\r\n\r\nx\r\n--b0und--", CT, "malformed part header"),
        (b"--b0und\r\nContent-Length: 99\r\n\r\nshort\r\n--b0und--", CT, "not followed by"),
        (b"--b0und\r\nContent-Length: 1\r\n\r\nx\r\n--b0und--", CT, "has no name"),
    ],
)
def test_malformed_bodies_are_value_errors(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        multipart.parse(body, content_type)
