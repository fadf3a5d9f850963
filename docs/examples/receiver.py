"""A webhook receiver for trying lokihooks locally (Python standard library only).

It listens on 127.0.0.1, prints every delivery, and answers 200 (or the status
given with --status, to watch retries, dead letters or a 410 deactivation;
--delay makes it slow, to watch timeouts).
With WEBHOOK_SECRET set it also verifies both signatures (see verify.py).
With --save FILE it writes the last request as {"headers": {...}, "body": "..."},
the input of the verify.py, verify.mjs and verify-go examples.

    python3 receiver.py [--port 9000] [--status 200] [--delay 0] [--save request.json]
"""

import argparse
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True  # leave no __pycache__ beside the examples
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from verify import verify_legacy, verify_standard  # noqa: E402

SHOWN = ("webhook-id", "webhook-timestamp", "webhook-signature", "X-Webhook-Signature",
         "X-Webhook-Event", "X-Webhook-Delivery", "X-Webhook-Attempt", "traceparent")


def make_handler(status, delay, save, secret):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            print(f"--- {self.command} {self.path}")
            for name in SHOWN:
                if self.headers.get(name) is not None:
                    print(f"{name}: {self.headers[name]}")
            print(body.decode("utf-8", "replace"))
            headers = {k: v for k, v in self.headers.items()}
            if secret:
                print("signatures:",
                      "standard", "valid" if verify_standard(secret, headers, body) else "INVALID",
                      "| legacy", "valid" if verify_legacy(secret, headers, body) else "INVALID")
            if save:
                with open(save, "w", encoding="utf-8") as f:
                    json.dump({"headers": headers, "body": body.decode("utf-8")}, f)
            sys.stdout.flush()
            time.sleep(delay)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass  # the delivery printout above is enough

    return Handler


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--status", type=int, default=200, help="HTTP status to answer (default 200)")
    p.add_argument("--delay", type=float, default=0, help="seconds to wait before answering")
    p.add_argument("--save", metavar="FILE", help="write the last request here as JSON")
    args = p.parse_args()
    secret = os.environ.get("WEBHOOK_SECRET", "")
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.status, args.delay, args.save, secret))
    print(f"receiver: listening on http://127.0.0.1:{args.port}/, answering {args.status}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
