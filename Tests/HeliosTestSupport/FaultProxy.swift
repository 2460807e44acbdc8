import Foundation

/// A fault-injecting HTTP proxy on 127.0.0.1 for retry tests: the first requests get the planned faults (a 503
/// SlowDown answer, a 500 InternalError, or a connection reset), every later one is relayed to the upstream
/// server unchanged (one request per connection). Threads and blocking sockets; tests only.
public final class FaultProxy: @unchecked Sendable {
    public enum Fault: Sendable { case slowDown, internalError, reset, tooManyRequests }

    public let port: Int
    public var endpoint: String { "http://127.0.0.1:\(port)" }
    let upstreamPort: Int
    private let listener: Int32
    private let lock = NSLock()
    private var plan: [Fault]
    private var requests = 0
    private var faulted = 0
    private var abandoned = 0
    private var active = 0
    private var relayed = 0
    private var holds: [(method: String, pathContains: String, delay: Double)] = []
    private var holdAnswersFrom: Int?
    private var heldAnswers = 0
    private var answersReleased = false
    private var stopped = false

    /// Requests seen (faulted or relayed) and faults served.
    public var requestCount: Int { lock.withLock { requests } }
    public var faultCount: Int { lock.withLock { faulted } }
    /// Relayed requests whose client closed the connection before the upstream answer came back (the caller gave up,
    /// e.g. cancelled): the proxy then closes its upstream connection too, as a load balancer would.
    public var abandonedCount: Int { lock.withLock { abandoned } }
    /// Requests being handled now (read, held, relayed or answered, until the connection is closed).
    public var activeCount: Int { lock.withLock { active } }
    /// Requests whose upstream answer was relayed completely.
    public var relayedCount: Int { lock.withLock { relayed } }

    /// Replaces the plan: the next requests get `faults`, in order.
    public func plan(_ faults: [Fault]) { lock.withLock { plan = faults } }

    /// Holds every request with `method` whose path contains `pathContains` for `seconds` before relaying it (the
    /// client is not watched meanwhile): a slow network for chosen requests, e.g. one attempt's upload.
    public func hold(method: String, pathContains: String, seconds: Double) {
        lock.withLock { holds.append((method, pathContains, seconds)) }
    }

    /// From the `request`th request on (counting from 1), the proxy relays the request and reads the upstream's whole
    /// answer, but keeps it from the client until ``releaseAnswers()``: the work was done upstream, the caller never
    /// heard. A test then kills the caller at a point it knows exactly, instead of racing it.
    public func holdAnswers(fromRequest request: Int) { lock.withLock { holdAnswersFrom = request } }

    /// Answers read from the upstream and held back (``holdAnswers(fromRequest:)``).
    public var heldAnswerCount: Int { lock.withLock { heldAnswers } }

    /// Sends the held answers to their clients (those still connected) and stops holding.
    public func releaseAnswers() { lock.withLock { answersReleased = true; holdAnswersFrom = nil } }

    /// Answers instead of relaying (``LoopbackResponder``).
    let responder: (@Sendable (String) -> (status: Int, body: String))?

    public convenience init(upstreamPort: Int, faults: [Fault] = []) throws {
        try self.init(upstreamPort: upstreamPort, responder: nil, faults: faults)
    }

    init(upstreamPort: Int, responder: (@Sendable (String) -> (status: Int, body: String))?, faults: [Fault] = []) throws {
        self.upstreamPort = upstreamPort
        self.responder = responder
        plan = faults
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var one: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 64) == 0 else { throw ShellError(message: "FaultProxy: cannot listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        self.listener = listener
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in acceptLoop() }.start()
    }

    deinit { stop() }

    public func stop() {
        let first = lock.withLock { () -> Bool in
            defer { stopped = true }
            return !stopped
        }
        if first { shutdown(listener, Int32(SHUT_RDWR)); close(listener) }
    }

    static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if lock.withLock({ stopped }) { return }
                continue
            }
            Thread { [self] in handle(client) }.start()
        }
    }

    private func handle(_ client: Int32) {
        lock.withLock { active += 1 }
        defer {
            close(client)
            lock.withLock { active -= 1 }
        }
        // Read the request head.
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var headEnd: Int?
        while headEnd == nil {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
            if count <= 0 { return }
            data.append(contentsOf: buffer[..<count])
            headEnd = Self.find([13, 10, 13, 10], in: data)
        }
        let head = String(decoding: data[..<headEnd!], as: UTF8.self)
        var body = Array(data[(headEnd! + 4)...])
        let lines = head.components(separatedBy: "\r\n")
        let contentLength = lines.dropFirst().compactMap { line -> Int? in
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "content-length" else { return nil }
            return Int(parts[1].trimmingCharacters(in: .whitespaces))
        }.first ?? 0
        let (fault, holdAnswer) = lock.withLock { () -> (Fault?, Bool) in
            requests += 1
            let hold = holdAnswersFrom.map { requests >= $0 } ?? false
            guard !plan.isEmpty else { return (nil, hold) }
            faulted += 1
            return (plan.removeFirst(), hold)
        }
        switch fault {
        case .reset?:
            var option = linger(l_onoff: 1, l_linger: 0)
            setsockopt(client, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
            return
        case let answer?:
            // Drain the body, then answer like S3 does.
            var remaining = contentLength - body.count
            while remaining > 0 {
                let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, min($0.count, remaining), 0) }
                if count <= 0 { return }
                remaining -= count
            }
            if answer == .tooManyRequests {
                // As AWS Lambda throttles an invoke.
                let json = "{\"Reason\":\"ReservedFunctionConcurrentInvocationLimitExceeded\",\"Type\":\"User\",\"message\":\"Rate Exceeded.\"}"
                let response = "HTTP/1.1 429 Too Many Requests\r\nx-amzn-ErrorType: TooManyRequestsException\r\nContent-Type: application/json\r\nContent-Length: \(json.utf8.count)\r\nConnection: close\r\n\r\n\(json)"
                Self.sendAll(client, Array(response.utf8))
                return
            }
            let (status, code) = answer == .slowDown ? ("503 Slow Down", "SlowDown") : ("500 Internal Server Error", "InternalError")
            let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message>injected by FaultProxy</Message><RequestId>fault-\(faultCount)</RequestId></Error>"
            let response = "HTTP/1.1 \(status)\r\nContent-Type: application/xml\r\nContent-Length: \(xml.utf8.count)\r\nConnection: close\r\n\r\n\(xml)"
            Self.sendAll(client, Array(response.utf8))
            return
        case nil:
            break
        }
        if let responder {
            var remaining = contentLength - body.count
            while remaining > 0 {
                let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, min($0.count, remaining), 0) }
                if count <= 0 { return }
                remaining -= count
            }
            let (status, text) = responder(head)
            let response = "HTTP/1.1 \(status) Answer\r\nContent-Type: application/json\r\nContent-Length: \(text.utf8.count)\r\nConnection: close\r\n\r\n\(text)"
            Self.sendAll(client, Array(response.utf8))
            return
        }
        let requestLine = lines.first?.split(separator: " ") ?? []
        let delay = lock.withLock {
            holds.first { requestLine.count >= 2 && requestLine[0] == $0.method && requestLine[1].contains($0.pathContains) }?.delay
        }
        if let delay { Thread.sleep(forTimeInterval: delay) }
        // Relay: the head with Connection: close, the body, then the whole answer.
        let upstream = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(upstream) }
        var address = Self.loopback(port: UInt16(upstreamPort))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(upstream, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return }
        let rewritten = lines.filter { !$0.lowercased().hasPrefix("connection:") }.joined(separator: "\r\n")
            + "\r\nConnection: close\r\n\r\n"
        guard Self.sendAll(upstream, Array(rewritten.utf8)), Self.sendAll(upstream, body) else { return }
        var remaining = contentLength - body.count
        body = []
        while remaining > 0 {
            let count = buffer.withUnsafeMutableBytes { recv(client, $0.baseAddress, min($0.count, remaining), 0) }
            if count <= 0 { return }
            guard Self.sendAll(upstream, Array(buffer[..<count])) else { return }
            remaining -= count
        }
        // The request was sent; the client sends nothing more, so its socket turning readable means it closed (EOF or
        // reset) while the answer was awaited.
        if holdAnswer {
            relayHeld(client: client, upstream: upstream, buffer: &buffer)
            return
        }
        var watchClient = true
        while true {
            var fds = [pollfd(fd: upstream, events: Int16(POLLIN), revents: 0), pollfd(fd: watchClient ? client : -1, events: Int16(POLLIN), revents: 0)]
            guard poll(&fds, 2, -1) > 0 else { continue }
            if fds[1].revents != 0, fds[0].revents == 0 {
                if Self.hungUp(client) {
                    lock.withLock { abandoned += 1 }
                    return
                }
                watchClient = false  // more bytes from the client: not a close; stop watching it
            }
            guard fds[0].revents != 0 else { continue }
            let count = buffer.withUnsafeMutableBytes { recv(upstream, $0.baseAddress, $0.count, 0) }
            if count <= 0 {
                lock.withLock { relayed += 1 }
                return
            }
            guard Self.sendAll(client, Array(buffer[..<count])) else { return }
        }
    }

    /// Reads the upstream's whole answer (it closes the connection after it), counts it held, and sends it once the
    /// answers are released; a client that hangs up meanwhile gets nothing.
    private func relayHeld(client: Int32, upstream: Int32, buffer: inout [UInt8]) {
        var answer = [UInt8]()
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(upstream, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            answer.append(contentsOf: buffer[..<count])
        }
        lock.withLock { heldAnswers += 1 }
        while !lock.withLock({ answersReleased || stopped }) {
            if Self.hungUp(client) {
                lock.withLock { abandoned += 1 }
                return
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        if Self.sendAll(client, answer) { lock.withLock { relayed += 1 } }
    }

    /// Whether the client closed its connection (EOF or an error), without consuming what it sent: it sends nothing
    /// after its request, so readable means closed. False while nothing is pending.
    static func hungUp(_ client: Int32) -> Bool {
        var probe: UInt8 = 0
        let peeked = recv(client, &probe, 1, Int32(MSG_PEEK | MSG_DONTWAIT))
        return peeked == 0 || (peeked < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
    }

    @discardableResult
    static func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if count <= 0 { return false }
            sent += count
        }
        return true
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for index in 0...(haystack.count - needle.count) where haystack[index..<(index + needle.count)].elementsEqual(needle) {
            return index
        }
        return nil
    }
}

