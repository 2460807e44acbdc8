#!/usr/bin/env python3
# The SigV4 vector for a Lambda invoke in LambdaSigningTests.swift, computed by botocore (the independent oracle)
# with its clock fixed. Run: python3 Tests/HeliosWorkersTests/Vectors/lambda_invoke_vector.py
import datetime, hashlib, json
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
FIXED = datetime.datetime(2026, 12, 2, 12, 34, 56)
botocore.auth.get_current_datetime = lambda: FIXED
body = b'{"version":1,"jobId":"job1"}'
req = AWSRequest(method="POST", url="https://lambda.eu-west-1.amazonaws.com/2015-03-31/functions/helios-render/invocations",
                 data=body, headers={"Content-Type": "application/json", "X-Amz-Invocation-Type": "RequestResponse",
                                     "X-Amz-Content-SHA256": hashlib.sha256(body).hexdigest()})
class R(botocore.auth.SigV4Auth):
    def canonical_request(self, request):
        self.cr = super().canonical_request(request); return self.cr
    def string_to_sign(self, request, cr):
        self.sts = super().string_to_sign(request, cr); return self.sts
a = R(Credentials("AKIDEXAMPLEHELIOS", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "IQoJtoken+with/slash=="), "lambda", "eu-west-1")
a.add_auth(req)
print(json.dumps({"cr": a.cr, "sts": a.sts, "auth": req.headers["Authorization"], "date": req.headers["X-Amz-Date"]}, indent=1))
