import Foundation
import HeliosStorage
import Testing
@testable import HeliosWorkers

/// The invoke's signature for service `lambda`, byte for byte against botocore 1.43 (Vectors/lambda_invoke_vector.py):
/// canonical request, string to sign and Authorization header, with a session token.
@Suite struct LambdaSigningTests {
    @Test func invokeSignatureMatchesBotocore() throws {
        let body = Data(#"{"version":1,"jobId":"job1"}"#.utf8)
        let signed = AwsLambdaInvoker.sign(
            body: body, host: "lambda.eu-west-1.amazonaws.com", path: "/2015-03-31/functions/helios-render/invocations",
            credentials: S3Credentials(accessKeyID: "AKIDEXAMPLEHELIOS", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                       sessionToken: "IQoJtoken+with/slash=="),
            region: "eu-west-1", time: try #require(SigV4Time(amzDate: "20261202T123456Z")))
        let hash = "8f692dd8bd894277ea56ae6575f03a2ff2d8600e813c1ed6b95a315d10d3efb0"
        #expect(signed.canonicalRequest == """
            POST
            /2015-03-31/functions/helios-render/invocations

            content-type:application/json
            host:lambda.eu-west-1.amazonaws.com
            x-amz-content-sha256:\(hash)
            x-amz-date:20261202T123456Z
            x-amz-invocation-type:RequestResponse
            x-amz-security-token:IQoJtoken+with/slash==

            content-type;host;x-amz-content-sha256;x-amz-date;x-amz-invocation-type;x-amz-security-token
            \(hash)
            """)
        #expect(signed.stringToSign == """
            AWS4-HMAC-SHA256
            20261202T123456Z
            20261202/eu-west-1/lambda/aws4_request
            47633df0121d81c660dca22b6113dbf7d7add19ccbe06e657c017d19cd92cc86
            """)
        #expect(signed.authorization == "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLEHELIOS/20261202/eu-west-1/lambda/aws4_request, SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;x-amz-invocation-type;x-amz-security-token, Signature=990792ac7eb263a5c26d339e64488f8dbefe7e4481dfc4c388ce2041c8a719d2")
    }
}
