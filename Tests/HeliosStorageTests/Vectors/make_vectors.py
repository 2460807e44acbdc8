#!/usr/bin/env python3
"""Generates SigV4 test vectors for HeliosStorage's S3 signer with botocore, the independent oracle.

Run: python3 Tests/HeliosStorageTests/Vectors/make_vectors.py > Tests/HeliosStorageTests/Vectors/sigv4.json

Three things make botocore's output fixed: the clock is patched (botocore.auth.get_current_datetime), URLs are
passed already percent-encoded (quoted here with urllib, a second independent encoder), and no Date header is sent.
Each vector records the unencoded inputs (endpoint, bucket, key, query) so the Swift tests check our URL building
as well as the canonical request, string to sign, signature and presigned URL, byte for byte.
"""
import datetime
import hashlib
import json
import sys
from urllib.parse import quote

import botocore
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

FIXED = datetime.datetime(2026, 12, 2, 12, 34, 56)
botocore.auth.get_current_datetime = lambda: FIXED

ACCESS = "AKIDEXAMPLEHELIOS"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD+token/with+plus=="


def encode_key(key):
    # Every byte but the unreserved set and '/' is percent-encoded (RFC 3986, as S3 wants it).
    return quote(key, safe="/")


def encode_query_part(text):
    return quote(text, safe="")


def build_url(endpoint, style, bucket, key, query):
    scheme, host = endpoint.split("://", 1)
    if style == "virtual":
        base = f"{scheme}://{bucket}.{host}/"
    else:
        base = f"{scheme}://{host}/{bucket}" + ("/" if key else "")
    url = base + (encode_key(key) if key else "")
    if query:
        url += "?" + "&".join(
            encode_query_part(k) + ("=" + encode_query_part(v) if v is not None else "") for k, v in query
        )
    return url


class Recording:
    """Mixin that records the canonical request and string to sign botocore computes."""

    def canonical_request(self, request):
        self.recorded_cr = super().canonical_request(request)
        return self.recorded_cr

    def string_to_sign(self, request, canonical_request):
        self.recorded_sts = super().string_to_sign(request, canonical_request)
        return self.recorded_sts


class HeaderAuth(Recording, botocore.auth.S3SigV4Auth):
    sign_payload = True

    def _should_sha256_sign_payload(self, request):
        return self.sign_payload


class QueryAuth(Recording, botocore.auth.S3SigV4QueryAuth):
    pass


def header_case(name, method, endpoint, style, bucket, key, query, headers, body, region, token, sign_payload):
    url = build_url(endpoint, style, bucket, key, query)
    creds = Credentials(ACCESS, SECRET, token)
    auth = HeaderAuth(creds, "s3", region)
    auth.sign_payload = sign_payload
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    auth.add_auth(request)
    signed = {k.lower(): v for k, v in request.headers.items()}
    return {
        "name": name, "kind": "header", "method": method, "endpoint": endpoint, "addressing": style,
        "bucket": bucket, "key": key, "query": [[k, v] for k, v in query],
        "headers": headers, "body": body.decode("utf-8") if body else "",
        "region": region, "accessKey": ACCESS, "secretKey": SECRET, "sessionToken": token,
        "timestamp": FIXED.strftime("%Y%m%dT%H%M%SZ"), "signPayload": sign_payload,
        "expected": {
            "url": url,
            "canonicalRequest": auth.recorded_cr,
            "stringToSign": auth.recorded_sts,
            "authorization": signed["authorization"],
            "payloadHash": signed["x-amz-content-sha256"],
            "amzDate": signed["x-amz-date"],
            "securityToken": signed.get("x-amz-security-token"),
        },
    }


def presign_case(name, method, endpoint, style, bucket, key, region, token, expires):
    url = build_url(endpoint, style, bucket, key, [])
    creds = Credentials(ACCESS, SECRET, token)
    auth = QueryAuth(creds, "s3", region, expires=expires)
    request = AWSRequest(method=method, url=url, headers={}, data=b"")
    auth.add_auth(request)
    return {
        "name": name, "kind": "presign", "method": method, "endpoint": endpoint, "addressing": style,
        "bucket": bucket, "key": key, "query": [], "headers": {}, "body": "",
        "region": region, "accessKey": ACCESS, "secretKey": SECRET, "sessionToken": token,
        "timestamp": FIXED.strftime("%Y%m%dT%H%M%SZ"), "expires": expires, "signPayload": False,
        "expected": {
            "url": request.url,
            "canonicalRequest": auth.recorded_cr,
            "stringToSign": auth.recorded_sts,
        },
    }


def main():
    local = "http://127.0.0.1:8333"
    aws = "https://s3.eu-west-1.amazonaws.com"
    sha = hashlib.sha256(b"hello helios\n").hexdigest()
    cases = [
        header_case("get path-style", "GET", local, "path", "helios-art", "tenant/run/video/out.mp4", [], {}, b"",
                    "us-east-1", None, True),
        header_case("get key with space", "GET", local, "path", "helios-art", "tenant/my file (1).mp4", [], {}, b"",
                    "us-east-1", None, True),
        header_case("put with body and metadata", "PUT", local, "path", "helios-art", "t/r/json/spec.json", [],
                    {"Content-Type": "application/json", "x-amz-meta-sha256": sha,
                     "x-amz-meta-job": "  job  42  "}, b"hello helios\n", "us-east-1", None, True),
        header_case("put if-none-match", "PUT", local, "path", "helios-art", "a+b=c~d.txt", [],
                    {"If-None-Match": "*", "Content-Type": "text/plain"}, b"x", "us-east-1", None, True),
        header_case("put virtual-hosted unsigned payload with token", "PUT", aws, "virtual", "helios-art",
                    "tenant/caf\u00e9/\u6e32\u67d3 \u2603.png", [], {"Content-Type": "image/png"}, b"png",
                    "eu-west-1", TOKEN, False),
        header_case("list objects v2 with token", "GET", local, "path", "helios-art", "",
                    [("list-type", "2"), ("prefix", "tenant/a b+c/"), ("continuation-token", "1/a+b=="),
                     ("max-keys", "1000")], {}, b"", "us-east-1", TOKEN, True),
        header_case("list objects v2 virtual-hosted", "GET", aws, "virtual", "helios-art", "",
                    [("list-type", "2"), ("delimiter", "/"), ("prefix", "t/")], {}, b"", "eu-west-1", None, True),
        header_case("create multipart upload", "POST", local, "path", "helios-art", "t/r/video/big.mp4",
                    [("uploads", "")], {"Content-Type": "video/mp4", "x-amz-meta-sha256": sha}, b"", "us-east-1",
                    None, True),
        header_case("upload part unsigned", "PUT", local, "path", "helios-art", "t/r/video/big.mp4",
                    [("partNumber", "3"), ("uploadId", "abc/DEF+123==")], {}, b"part", "us-east-1", None, False),
        header_case("delete objects", "POST", local, "path", "helios-art", "", [("delete", "")],
                    {"Content-MD5": "XrY7u+Ae7tCTyyK7j1rNww==", "Content-Type": "application/xml"},
                    b"<Delete><Object><Key>a</Key></Object></Delete>", "us-east-1", None, True),
        header_case("head with port on virtual host", "HEAD", "http://s3.local.test:9000", "virtual", "helios-art",
                    "k~e=y+1", [], {}, b"", "us-east-1", None, True),
        presign_case("presign get path-style", "GET", local, "path", "helios-art", "tenant/run/video/out.mp4",
                     "us-east-1", None, 3600),
        presign_case("presign put path-style spaces", "PUT", local, "path", "helios-art", "tenant/my clip+1=2~.mp4",
                     "us-east-1", None, 900),
        presign_case("presign get unicode virtual-hosted with token max expiry", "GET", aws, "virtual", "helios-art",
                     "tenant/caf\u00e9/\u6e32\u67d3 \u2603.png", "eu-west-1", TOKEN, 604800),
        presign_case("presign put virtual-hosted with token", "PUT", aws, "virtual", "helios-art",
                     "a/b c/d+e=f~g", "eu-west-1", TOKEN, 60),
    ]
    json.dump({"generator": f"botocore {botocore.__version__}", "cases": cases}, sys.stdout, indent=1,
              ensure_ascii=False, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
