"""uvicorn's httptools protocol, answering unparsable HTTP/1.1 like the real server (hyper) does.

A request that is not HTTP/1.1 (bad request line, header or framing) never reaches the app; hyper
answers it with a bare `400 Bad Request` (`connection: close`, `content-length: 0`) and closes the
connection, where uvicorn would send a text/plain body. Both the ingress and the admin API use it.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

BAD_REQUEST_HEAD = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n"


class BareBadRequestProtocol(HttpToolsProtocol):
    """HttpToolsProtocol with hyper's answer to a request it cannot parse."""

    def send_400_response(self, msg: str) -> None:
        content = [BAD_REQUEST_HEAD]
        for name, value in self.server_state.default_headers:  # `date` (the server header is off)
            content.extend([name, b": ", value, b"\r\n"])
        content.append(b"\r\n")
        self.transport.write(b"".join(content))
        self.transport.close()
