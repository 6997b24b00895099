#!/usr/bin/env python3
"""A small HTTP/1.1 server for the HTTP executor's tests (standard library only).

    http_server.py LOGFILE

Listens on 127.0.0.1 at a free port and prints "PORT PID" on its first line of stdout. Every
request is appended to LOGFILE as one JSON line (method, path, headers, body) when it has been
read, before it is answered. The path says how to answer:

    /ok                 200 "ok"
    /status/N           status N
    /slow/MS            200 after MS milliseconds
    /drop               close the connection without an answer
    /flaky/KEY/N        500 for the first N requests naming KEY, then 200
    /echo               200 with the request body
    /big/N              200 with N bytes of body ("x" repeated, ending in "END")
    /redirect           302 to /ok

One asyncio loop serves every connection, so a thousand slow requests cost a thousand sockets.
Exits on SIGTERM.
"""
import asyncio
import json
import os
import resource
import signal
import sys

flaky = {}
log = None


def record(method, path, headers, body):
    log.write(json.dumps({"method": method, "path": path, "headers": headers,
                          "body": body.decode("utf-8", "replace")}) + "\n")
    log.flush()


def answer(status, body=b"", extra=""):
    reason = {200: "OK", 204: "No Content", 302: "Found", 500: "Internal Server Error"}.get(
        status, "Status")
    head = "HTTP/1.1 %d %s\r\nContent-Length: %d\r\n%s\r\n" % (status, reason, len(body), extra)
    return head.encode() + body


async def respond(method, path, body):
    """The bytes to send, or None to drop the connection."""
    parts = path.split("?")[0].strip("/").split("/")
    what = parts[0]
    if what == "ok":
        return answer(200, b"ok\n")
    if what == "status":
        status = int(parts[1])
        return answer(status, b"" if status in (204, 304) else ("status %d\n" % status).encode())
    if what == "slow":
        await asyncio.sleep(int(parts[1]) / 1000.0)
        return answer(200, b"slow\n")
    if what == "drop":
        return None
    if what == "flaky":
        key, n = parts[1], int(parts[2])
        flaky[key] = flaky.get(key, 0) + 1
        if flaky[key] <= n:
            return answer(500, b"flaky failure %d\n" % flaky[key])
        return answer(200, b"flaky ok\n")
    if what == "echo":
        return answer(200, body)
    if what == "big":
        n = int(parts[1])
        return answer(200, b"x" * (n - 3) + b"END")
    if what == "redirect":
        return answer(302, b"", "Location: /ok\r\n")
    return answer(404, b"no such test path\n")


async def serve(reader, writer):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            method, path, _ = line.decode("latin-1").split(" ", 2)
            headers = {}
            while True:
                h = (await reader.readline()).decode("latin-1")
                if h in ("\r\n", "\n", ""):
                    break
                k, v = h.split(":", 1)
                headers[k.strip()] = v.strip()
            length = int(headers.get("Content-Length", "0"))
            body = await reader.readexactly(length) if length > 0 else b""
            record(method, path, headers, body)
            out = await respond(method, path, body)
            if out is None:
                break
            writer.write(out)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
        pass
    finally:
        writer.close()


async def main():
    global log
    log = open(sys.argv[1], "a")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    server = await asyncio.start_server(serve, "127.0.0.1", 0, backlog=4096)
    port = server.sockets[0].getsockname()[1]
    print("%d %d" % (port, os.getpid()), flush=True)
    # Nothing to flush (the log is flushed per request): leave at once, open connections too.
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
