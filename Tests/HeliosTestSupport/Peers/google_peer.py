#!/usr/bin/env python3
"""Stand-ins for Google's side of Cloud Run authentication, for Helios's tests. Each server prints one JSON line
with its port on stdout, then serves on 127.0.0.1 until killed.

  google_peer.py metadata [--lifetime S] [--key-file PATH]
      The metadata server (GET /, .../service-accounts/default/?recursive=true, .../identity?audience=&format=full),
      a token endpoint (POST /token: a service-account JWT assertion, checked with google-auth, for an ID token with
      target_audience), and the signing keys (GET /oauth2/v1/certs as a PEM map, /oauth2/v3/certs as a JWKS).
      Tokens are RS256 with a fresh test key and live --lifetime seconds. --key-file writes a service-account key
      file whose token_uri is this server. GET /log lists what was served and checked; POST /control changes the
      lifetime ({"lifetime": S}).
  google_peer.py front --upstream URL [--audience AUD] --certs-url URL
      Cloud Run's front end: checks every request's bearer token with google-auth's verify_token (and the issuer,
      which verify_token leaves alone; answers 401 to a bad one, relays good ones to the upstream worker. POST
      /control {"fail": N, "status": 503} makes the next N chunk requests fail with that status. GET /log lists every
      token check.
  google_peer.py fetch-id-token --audience AUD
      google-auth's own fetch_id_token against the metadata server named by GCE_METADATA_HOST; prints the token.
"""
import argparse, base64, json, sys, threading, time, urllib.parse, urllib.request, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ISSUER = "https://accounts.google.com"
EMAIL = "orchestrator@helios-test.iam.gserviceaccount.com"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    def __init__(self):
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID
        import datetime
        self.kid = "helios-test-" + uuid.uuid4().hex[:8]
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "helios-test-google-peer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=2)).sign(self.key, hashes.SHA256()))
        self.cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        numbers = self.key.public_key().public_numbers()
        def unsigned(n):
            return n.to_bytes((n.bit_length() + 7) // 8, "big")
        self.jwk = {"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid, "n": b64url(unsigned(numbers.n)), "e": b64url(unsigned(numbers.e))}
        self.private_pem = self.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()).decode()
        self.public_pem = self.key.public_key().public_bytes(serialization.Encoding.PEM,
                                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def mint(self, claims):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        header = {"alg": "RS256", "kid": self.kid, "typ": "JWT"}
        signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(json.dumps(claims, separators=(",", ":")).encode())
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)


def serve(handler_class, state):
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    server.state = state
    # A front end's own URL is the audience unless told otherwise, as a Cloud Run service URL is.
    if state.get("audience") == "":
        state["audience"] = "http://127.0.0.1:%d" % server.server_address[1]
    print(json.dumps({"port": server.server_address[1]}), flush=True)
    server.serve_forever()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def body(self):
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def record(self, event):
        state = self.server.state
        with state["lock"]:
            state["log"].append(event)


class MetadataHandler(Handler):
    def do_GET(self):
        state = self.server.state
        keys = state["keys"]
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        flavor = [("Metadata-Flavor", "Google")]
        if url.path == "/log":
            with state["lock"]:
                return self.reply(200, state["log"])
        if url.path == "/oauth2/v1/certs":
            return self.reply(200, {keys.kid: keys.cert_pem})
        if url.path == "/oauth2/v3/certs":
            return self.reply(200, {"keys": [keys.jwk]})
        if url.path in ("", "/"):
            return self.reply(200, "", "text/plain", flavor)
        if self.headers.get("Metadata-Flavor") != "Google":
            return self.reply(403, "Missing Metadata-Flavor: Google header", "text/plain", flavor)
        if url.path.rstrip("/") == "/computeMetadata/v1/instance/service-accounts/default":
            return self.reply(200, {"aliases": ["default"], "email": EMAIL, "scopes": ["https://www.googleapis.com/auth/cloud-platform"]},
                              "application/json", flavor)
        if url.path == "/computeMetadata/v1/instance/service-accounts/default/identity":
            audience = (query.get("audience") or [""])[0]
            if not audience:
                return self.reply(400, "non-empty audience parameter required", "text/plain", flavor)
            now = int(time.time())
            token = keys.mint({"aud": audience, "azp": "1234567890", "email": EMAIL, "email_verified": True,
                               "exp": now + state["lifetime"], "iat": now, "iss": ISSUER, "sub": "1234567890"})
            self.record({"event": "identity", "audience": audience, "format": (query.get("format") or [""])[0], "exp": now + state["lifetime"]})
            return self.reply(200, token, "text/plain", flavor)
        return self.reply(404, "not found", "text/plain", flavor)

    def do_POST(self):
        state = self.server.state
        keys = state["keys"]
        url = urllib.parse.urlparse(self.path)
        body = self.body()
        if url.path == "/control":
            change = json.loads(body or b"{}")
            if "lifetime" in change:
                state["lifetime"] = int(change["lifetime"])
            return self.reply(200, {"lifetime": state["lifetime"]})
        if url.path == "/token":
            form = urllib.parse.parse_qs(body.decode())
            assertion = (form.get("assertion") or [""])[0]
            grant = (form.get("grant_type") or [""])[0]
            from google.auth import jwt
            token_uri = "http://127.0.0.1:%d/token" % self.server.server_address[1]
            try:
                claims = jwt.decode(assertion, certs={state["sa_kid"]: state["sa_public_pem"]}, audience=token_uri)
            except Exception as error:  # google-auth refused the assertion
                self.record({"event": "assertion", "valid": False, "error": str(error)})
                return self.reply(400, {"error": "invalid_grant", "error_description": str(error)})
            header = json.loads(base64.urlsafe_b64decode(assertion.split(".")[0] + "=="))
            self.record({"event": "assertion", "valid": True, "grant_type": grant, "claims": claims, "header": header})
            if grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" or "target_audience" not in claims:
                return self.reply(400, {"error": "invalid_request"})
            now = int(time.time())
            token = keys.mint({"aud": claims["target_audience"], "azp": claims["iss"], "email": claims["iss"], "email_verified": True,
                               "exp": now + state["lifetime"], "iat": now, "iss": ISSUER, "sub": "1234567890"})
            return self.reply(200, {"id_token": token})
        return self.reply(404, {"error": "not found"})


class FrontHandler(Handler):
    def do_GET(self):
        if self.path == "/log":
            with self.server.state["lock"]:
                return self.reply(200, self.server.state["log"])
        return self.relay(b"")

    def do_POST(self):
        state = self.server.state
        body = self.body()
        if self.path == "/control":
            change = json.loads(body or b"{}")
            with state["lock"]:
                state["fail"] = int(change.get("fail", 0))
                state["status"] = int(change.get("status", 503))
            return self.reply(200, {"fail": state["fail"]})
        return self.relay(body)

    def relay(self, body):
        state = self.server.state
        from google.auth.transport import requests as google_requests
        from google.oauth2 import id_token
        header = self.headers.get("Authorization") or ""
        if self.path.startswith("/v1/"):
            token = header[7:] if header.lower().startswith("bearer ") else ""
            try:
                claims = id_token.verify_token(token, google_requests.Request(), audience=state["audience"], certs_url=state["certs_url"])
                if claims.get("iss") not in ("https://accounts.google.com", "accounts.google.com"):
                    raise ValueError("issuer %r is not Google's" % claims.get("iss"))
            except Exception as error:
                self.record({"event": "token", "valid": False, "error": str(error)})
                return self.reply(401, {"error": "unauthenticated: %s" % error}, headers=[("WWW-Authenticate", 'Bearer error="invalid_token"')])
            self.record({"event": "token", "valid": True, "aud": claims.get("aud"), "exp": claims.get("exp"), "email": claims.get("email")})
            with state["lock"]:
                fail = state["fail"] > 0
                if fail:
                    state["fail"] -= 1
            if fail:
                self.record({"event": "fault", "status": state["status"]})
                return self.reply(state["status"], "<html><body>Service Unavailable</body></html>", "text/html")
        request = urllib.request.Request(state["upstream"] + self.path, data=body if self.command == "POST" else None, method=self.command)
        for name in ("Content-Type", "Accept", "Authorization"):
            if self.headers.get(name):
                request.add_header(name, self.headers.get(name))
        try:
            with urllib.request.urlopen(request, timeout=3600) as response:
                return self.reply(response.status, response.read(), response.headers.get("Content-Type", "application/json"),
                                  [(n, v) for n, v in response.headers.items() if n.lower() == "retry-after"])
        except urllib.error.HTTPError as error:
            return self.reply(error.code, error.read(), error.headers.get("Content-Type", "application/json"),
                              [(n, v) for n, v in error.headers.items() if n.lower() == "retry-after"])
        except Exception as error:
            return self.reply(502, {"error": "upstream: %s" % error})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["metadata", "front", "fetch-id-token"])
    parser.add_argument("--lifetime", type=int, default=3600)
    parser.add_argument("--key-file")
    parser.add_argument("--upstream")
    parser.add_argument("--audience")
    parser.add_argument("--certs-url")
    args = parser.parse_args()
    lock = threading.Lock()
    if args.mode == "fetch-id-token":
        # google-auth reads GCE_METADATA_HOST / GCE_METADATA_IP when it is imported: the caller sets both.
        import google.auth.transport.requests
        import google.oauth2.id_token
        print(google.oauth2.id_token.fetch_id_token(google.auth.transport.requests.Request(), args.audience))
        return
    if args.mode == "front":
        return serve(FrontHandler, {"lock": lock, "log": [], "upstream": args.upstream.rstrip("/"), "audience": args.audience or "",
                                    "certs_url": args.certs_url, "fail": 0, "status": 503})
    keys = Keys()
    account = Keys()  # the service account's own key, which signs assertions
    state = {"lock": lock, "log": [], "keys": keys, "lifetime": args.lifetime, "sa_kid": account.kid, "sa_public_pem": account.public_pem}
    server = ThreadingHTTPServer(("127.0.0.1", 0), MetadataHandler)
    server.daemon_threads = True
    server.state = state
    port = server.server_address[1]
    if args.key_file:
        with open(args.key_file, "w") as handle:
            json.dump({"type": "service_account", "project_id": "helios-test", "private_key_id": account.kid,
                       "private_key": account.private_pem, "client_email": EMAIL, "client_id": "1234567890",
                       "token_uri": "http://127.0.0.1:%d/token" % port}, handle)
    print(json.dumps({"port": port}), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
