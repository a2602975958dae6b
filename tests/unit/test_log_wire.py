"""The log response's chunked encoding and stream frames, taken apart from pieces of any size."""

from __future__ import annotations

import pytest

from agent.executor.log_wire import ChunkedBody, FrameStream


def chunked(*pieces: bytes, extension: bytes = b"") -> bytes:
    return b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in pieces) + b"0\r\n\r\n"


def frame(stream: int, payload: bytes) -> bytes:
    return bytes([stream, 0, 0, 0]) + len(payload).to_bytes(4, "big") + payload


def fed(parser: ChunkedBody | FrameStream, data: bytes, step: int) -> bytes:
    return b"".join(parser.feed(data[i : i + step]) for i in range(0, len(data), step))


LINES = [b"2026-12-01T23:37:13.657948866Z one\n", b"2026-12-01T23:37:13.657948867Z two\n", b"x" * 300 + b"\n"]


@pytest.mark.parametrize("step", [1, 2, 7, 45, 1 << 16])  # every split point of a chunk's head, body and CRLF
def test_chunked_body_is_the_pieces_joined_whatever_the_read_sizes(step: int) -> None:
    body = ChunkedBody()
    assert fed(body, chunked(*LINES), step) == b"".join(LINES)
    assert body.ended


def test_a_chunk_extension_is_ignored_and_hex_sizes_read() -> None:
    # 0x12c = 300 bytes + the newline = 301 = 0x12d: a size with letters in it.
    body = ChunkedBody()
    assert body.feed(chunked(LINES[2], extension=b";name=value")) == LINES[2]
    assert body.ended


def test_nothing_is_taken_after_the_last_chunk() -> None:
    body = ChunkedBody()
    assert body.feed(chunked(b"a\n") + b"5\r\nafter\r\n") == b"a\n"
    assert body.feed(b"more") == b""


@pytest.mark.parametrize("step", [1, 3, 8, 9, 1 << 16])  # inside a header, at its end, inside a payload
def test_frames_give_their_payloads_in_order_stdout_and_stderr_alike(step: int) -> None:
    data = frame(1, LINES[0]) + frame(2, LINES[1]) + frame(1, b"") + frame(1, LINES[2])
    assert fed(FrameStream(), data, step) == b"".join(LINES)


def test_a_partial_frame_waits_for_the_rest() -> None:
    frames = FrameStream()
    whole = frame(1, LINES[0])
    assert frames.feed(whole[:-1]) == b""
    assert frames.feed(whole[-1:]) == LINES[0]
