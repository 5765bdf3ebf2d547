#!/usr/bin/env python3
"""A fast SMTP sink for benchmarks, standard library only.

Listens on 127.0.0.1:PORT, accepts every message and keeps nothing. On
SIGTERM or SIGINT it prints how many messages it accepted, on how many
connections, and exits.

Like most servers it answers DATA only after the closing "." line, so a
client that writes that line separately and has Nagle's algorithm on
waits for the sink's delayed ACK (about 40 ms on Linux) on every message.
Each reply goes out in one write, so the sink adds no such stall of its own.

Usage: scripts/smtp-sink.py PORT
"""

import asyncio
import signal
import sys

accepted = 0
connections = 0


async def session(reader, writer):
    global accepted, connections
    connections += 1

    async def reply(text):
        writer.write(text.encode() + b"\r\n")
        await writer.drain()

    try:
        await reply("220 sink ESMTP")
        while line := await reader.readline():
            command = line.rstrip(b"\r\n").upper()
            if command.startswith((b"EHLO", b"HELO")):
                await reply("250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8")
            elif command == b"DATA":
                await reply("354 End data with <CR><LF>.<CR><LF>")
                while (line := await reader.readline()) != b".\r\n":
                    if not line:
                        return
                accepted += 1
                await reply("250 2.0.0 Ok: queued")
            elif command == b"QUIT":
                await reply("221 2.0.0 Bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                await reply("250 2.0.0 Ok")
    except ConnectionError:
        pass
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(session, "127.0.0.1", port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening on 127.0.0.1:{port}", file=sys.stderr, flush=True)
    await stop.wait()
    server.close()
    print(f"{accepted} messages accepted on {connections} connections", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
