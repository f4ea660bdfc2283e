#!/usr/bin/python3
"""A real SMTP server for fmn's tests (Debian's python3-aiosmtpd).

Every message accepted is written to DIR as one JSON file: {"mail_from", "rcpt_tos", "data"}.
With --reply CODE[,CODE...], the first DATA commands are answered with those codes in turn
(e.g. 451 then 250); afterwards, or without it, every message is accepted. With --delay-ms N,
each message is held N ms before it is accepted; a client that goes away meanwhile never gets
its 250 and the message is dropped, as a real MTA does. With --tls starttls (required before
MAIL) or --tls tls (TLS from the first byte), it uses --cert and --key; with --auth USER:PASS,
it requires that login (PLAIN or LOGIN; over TLS when TLS is on). Each record says whether its
session was encrypted ("tls") and who logged in ("login").

Usage: smtp_sink.py --port PORT --dir DIR [--reply 451,250] [--delay-ms 150]
                    [--tls none|starttls|tls --cert PEM --key PEM] [--auth USER:PASS]
"""

import argparse
import asyncio
import json
import os
import signal
import ssl

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

TEXT = {250: "250 OK", 451: "451 Requested action aborted: try again later", 550: "550 Mailbox unavailable"}


class Sink:
    def __init__(self, directory, replies, delay):
        self.directory = directory
        self.replies = list(replies)
        self.delay = delay
        # Started again on the same directory, it goes on numbering after what it stored.
        self.count = len([f for f in os.listdir(directory) if f.endswith(".json")])

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            # Cancelled here when the client's connection is lost: nothing is stored.
            await asyncio.sleep(self.delay)
        if self.replies:
            code = self.replies.pop(0)
            if code != 250:
                return TEXT.get(code, f"{code} scripted reply")
        self.count += 1
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None
            or server.transport.get_extra_info("ssl_object") is not None,
            "login": session.auth_data.login.decode()
            if isinstance(session.auth_data, LoginPassword)
            else None,
        }
        path = os.path.join(self.directory, f"{self.count:06d}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f)
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--reply", default="")
    p.add_argument("--delay-ms", type=int, default=0)
    p.add_argument("--tls", choices=["none", "starttls", "tls"], default="none")
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--auth", default="")
    a = p.parse_args()
    options = {}
    if a.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(a.cert, a.key)
        if a.tls == "starttls":
            options.update(tls_context=context, require_starttls=True)
        else:
            options["ssl_context"] = context
    if a.auth:
        user, password = a.auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, data):
            ok = (
                isinstance(data, LoginPassword)
                and data.login.decode() == user
                and data.password.decode() == password
            )
            # handled=False: aiosmtpd answers 535 itself (with the default, it answers nothing).
            return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

        # With TLS from the first byte aiosmtpd does not know the session is encrypted, and
        # would hide AUTH if it had to be over TLS.
        options.update(
            authenticator=authenticator, auth_required=True, auth_require_tls=a.tls == "starttls"
        )
    replies = [int(c) for c in a.reply.split(",") if c]
    # Blocked before the server thread starts, so only sigwait below receives them.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    controller = Controller(
        Sink(a.dir, replies, a.delay_ms / 1000), hostname="127.0.0.1", port=a.port, **options
    )
    controller.start()
    print(f"listening on 127.0.0.1:{a.port}", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    controller.stop()


if __name__ == "__main__":
    main()
