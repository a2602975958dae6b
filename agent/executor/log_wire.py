"""Takes a container's log response apart as it comes off the engine's socket, many lines per read.

`GET /containers/{id}/logs` answers with HTTP chunked encoding, and without a TTY each piece of
output inside it is a stream frame (an 8-byte header: stream 1 or 2, three zero bytes, the length
big-endian; then the bytes). The Docker SDK reads that with two small reads a frame through
urllib3, which costs more than everything else the agent does with a line; here one read of up to
64 KiB is decoded with a few slices, so the cost per line is the line's own. Pure byte work: no
I/O, no Docker SDK (the executor hands the bytes in).
"""

from __future__ import annotations

_HEADER = 8


class ChunkedBody:
    """HTTP/1.1 chunked transfer encoding -> the body's bytes, fed in pieces of any size."""

    def __init__(self) -> None:
        self._raw = bytearray()
        self.ended = False  # the last (zero-length) chunk has come

    def feed(self, data: bytes) -> bytes:
        raw = self._raw
        raw += data
        body = bytearray()
        pos = 0
        while not self.ended:
            eol = raw.find(b"\r\n", pos)
            if eol < 0:
                break
            head = raw[pos:eol]
            size = int(head if b";" not in head else head.split(b";", 1)[0], 16)  # an extension is ignored
            if size == 0:
                self.ended = True
                break
            start = eol + 2
            if len(raw) < start + size + 2:
                break  # this chunk is not all here yet
            body += raw[start : start + size]
            pos = start + size + 2  # its trailing CRLF
        del raw[:pos]
        return bytes(body)


class FrameStream:
    """The engine's multiplexed stream frames -> their payloads joined, in the order they came."""

    def __init__(self) -> None:
        self._raw = bytearray()

    def feed(self, data: bytes) -> bytes:
        raw = self._raw
        raw += data
        out = bytearray()
        pos, end = 0, len(raw)
        while end - pos >= _HEADER:
            length = int.from_bytes(raw[pos + 4 : pos + _HEADER], "big")
            if end - pos - _HEADER < length:
                break
            out += raw[pos + _HEADER : pos + _HEADER + length]
            pos += _HEADER + length
        del raw[:pos]
        return bytes(out)
