import Foundation
import HeliosWorkers
import Hummingbird
import Logging
import NIOCore
import NIOFoundationCompat

extension WorkerServer {
    /// `POST /v1/chunks`.
    func chunk(_ request: Request) async -> Response {
        if let verification = configuration.verification {
            guard let header = request.headers[.authorization], header.lowercased().hasPrefix("bearer ") else {
                return unauthorized("the request has no bearer token")
            }
            let token = header.dropFirst(7).trimmingCharacters(in: .whitespaces)
            do { _ = try await verification.keys.verify(token, with: verification.verifier) } catch {
                return unauthorized(error.description)
            }
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > configuration.maxRequestBytes {
            return tooLarge(length)
        }
        switch await slots.admit() {
        case .admitted: break
        case .busy:
            logger.info("busy", metadata: ["capacity": "\(slots.capacity)"])
            return refusal(.tooManyRequests, WorkerFailure(.retryable, "this instance is busy (\(slots.capacity) chunk(s) at once); retry later or elsewhere"))
        case .draining:
            return refusal(.serviceUnavailable, WorkerFailure(.retryable, "this instance is shutting down; retry elsewhere"))
        }
        var request = request
        let body: ByteBuffer
        do { body = try await request.collectBody(upTo: configuration.maxRequestBytes) } catch {
            await slots.release(nil)
            return tooLarge(nil)
        }
        let payload = Data(buffer: body)
        let streaming = request.headers[.accept]?.contains("application/x-ndjson") == true
        let (lines, sink) = AsyncStream.makeStream(of: ChunkStreamLine.self, bufferingPolicy: .unbounded)
        let id = UUID()
        let runtime = self.runtime
        let slots = self.slots
        let logger = self.logger
        let task = Task { () -> ChunkOutcome in
            let response = await runtime.respond(to: payload) { progress in sink.yield(.progress(progress)) }
            let outcome = Self.outcome(response, stopped: Task.isCancelled)
            logger.info("chunk", metadata: Self.summary(outcome, payload: payload))
            sink.yield(.response(outcome.response))
            sink.finish()
            await slots.release(id)
            return outcome
        }
        await slots.track(id, task)
        guard streaming else {
            let outcome = await task.value
            let status: HTTPResponse.Status = outcome.stopped ? .serviceUnavailable
                : outcome.response.error?.type == .badRequest ? .badRequest : .ok
            return json(status, outcome.response.encodedWithinLimit())
        }
        let heartbeat = configuration.heartbeat
        let stream = ResponseBody { writer in
            let started = ContinuousClock.now
            // Heartbeats interleave with the chunk's own lines until its response has been written.
            let merged = AsyncStream<ChunkStreamLine> { continuation in
                let relay = Task {
                    for await line in lines { continuation.yield(line) }
                    continuation.finish()
                }
                let beat = Task {
                    while !Task.isCancelled {
                        do { try await Task.sleep(for: heartbeat) } catch { return }
                        continuation.yield(.heartbeat(elapsedMs: Int64((ContinuousClock.now - started) / .milliseconds(1))))
                    }
                }
                continuation.onTermination = { _ in
                    relay.cancel()
                    beat.cancel()
                }
            }
            for await line in merged {
                try await writer.write(ByteBuffer(data: line.encodedLine()))
                if case .response = line { break }
            }
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "application/x-ndjson", .cacheControl: "no-store"], body: stream)
    }

    /// A response a shutdown interrupted always reads as retryable.
    static func outcome(_ response: ChunkResponse, stopped: Bool) -> ChunkOutcome {
        guard stopped, response.status == .failed else { return ChunkOutcome(response: response, stopped: false) }
        var response = response
        response.error = WorkerFailure(.retryable, "the worker was shutting down (SIGTERM) and stopped the chunk: \(response.error?.message ?? "")")
        return ChunkOutcome(response: response, stopped: true)
    }

    static func summary(_ outcome: ChunkOutcome, payload: Data) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["status": "\(outcome.response.status.rawValue)", "durationMs": "\(outcome.response.durationMs)"]
        if let request = try? JSONDecoder().decode(ChunkRequest.self, from: payload) {
            metadata["job"] = "\(request.jobId)"
            metadata["chunk"] = "\(request.chunk.id)"
            metadata["attempt"] = "\(request.attempt)"
        }
        if let error = outcome.response.error { metadata["error"] = "\(error)" }
        if outcome.stopped { metadata["stopped"] = "true" }
        return metadata
    }

    func json(_ status: HTTPResponse.Status, _ data: Data, headers extra: HTTPFields = [:]) -> Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.append(contentsOf: extra)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    func refusal(_ status: HTTPResponse.Status, _ failure: WorkerFailure) -> Response {
        json(status, ChunkResponse.failure(failure).encodedWithinLimit(), headers: [.retryAfter: String(configuration.retryAfterSeconds)])
    }

    func unauthorized(_ reason: String) -> Response {
        logger.warning("unauthorized", metadata: ["reason": "\(reason)"])
        return json(.unauthorized, ChunkResponse.failure(WorkerFailure(.badRequest, "unauthorized: \(reason)")).encodedWithinLimit(),
                    headers: [.wwwAuthenticate: "Bearer error=\"invalid_token\""])
    }

    func tooLarge(_ length: Int?) -> Response {
        let size = length.map { "\($0) bytes" } ?? "over the limit"
        return json(.contentTooLarge, ChunkResponse.failure(WorkerFailure(.badRequest, "the request is \(size); this worker accepts at most \(configuration.maxRequestBytes) bytes (send the spec through storage)")).encodedWithinLimit())
    }
}
