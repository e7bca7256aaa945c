"""A web push endpoint for the tests, independent of the server's code: it makes a subscription
(a P-256 key pair and an auth secret of its own) and prints it as one JSON line; then for each
message it checks the VAPID JWT (ES256, with `cryptography`) and decrypts the body with
`http_ece` (RFC 8291, aes128gcm), printing one JSON line per message. A path with `/gone/`
answers 410, as a push service does for a subscription that no longer exists."""

import base64
import json
import os
from http.server import BaseHTTPRequestHandler, HTTPServer

import http_ece
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC = KEY.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
AUTH = os.urandom(16)


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        out = {"path": self.path, "ttl": self.headers.get("TTL"), "encoding": self.headers.get("Content-Encoding")}
        status = 201
        if "/gone/" in self.path:
            status = 410
        else:
            try:
                scheme, _, params = self.headers["Authorization"].partition(" ")
                fields = dict(p.strip().split("=", 1) for p in params.split(","))
                head, claims, sig = fields["t"].split(".")
                vapid = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(fields["k"]))
                raw = b64d(sig)
                der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
                # Raises when the signature does not verify.
                vapid.verify(der, f"{head}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
                out.update(scheme=scheme, k=fields["k"], jwt_header=json.loads(b64d(head)), claims=json.loads(b64d(claims)))
                plain = http_ece.decrypt(body, private_key=KEY, auth_secret=AUTH, version="aes128gcm")
                out["payload"] = json.loads(plain)
            except Exception as e:  # noqa: BLE001 - reported to the test
                out["error"] = repr(e)
                status = 400
        print(json.dumps(out), flush=True)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = HTTPServer(("127.0.0.1", 0), Handler)
port = server.server_address[1]
subscription = {"endpoint": f"http://127.0.0.1:{port}/push/{b64e(os.urandom(8))}",
                "keys": {"p256dh": b64e(PUBLIC), "auth": b64e(AUTH)}}
print(json.dumps(subscription), flush=True)
server.serve_forever()
