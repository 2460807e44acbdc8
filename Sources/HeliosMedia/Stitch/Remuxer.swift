import CFFmpeg
import CHeliosShims
import Foundation
import Logging

/// Copies the planned packets of every input into one output file, following FFmpeg's doc/examples/remux.c:
/// read a packet, map its stream, rescale its timestamps, write it interleaved. Confined to the calling task.
struct Remuxer {
    let inputs: [ProbedInput]
    let plan: StitchPlan
    let outputPath: String
    let formatName: String
    let faststart: Bool
    let logger: Logger
    let progress: (@Sendable (StitchProgress) -> Void)?
    let cancellation: CancellationFlag?

    /// What was written, per stream.
    struct Written {
        var packets: [Int]
        var bytes: Int64
        var timeBases: [Rational]
    }

    func run() throws(StitchError) -> Written {
        let temp = TemporaryOutput(outputPath: outputPath)
        do {
            let written = try remux(into: temp.muxerPath)
            try temp.commit(cancellation: cancellation)
            return written
        } catch {
            temp.discard()
            if cancellation.isCancelled { throw .cancelled }
            switch error {
            case let error as StitchError: throw error
            case let error as FFmpegError where error.isInterrupted: throw .cancelled
            case let error as FFmpegError where error.path != outputPath && error.path != temp.muxerPath && error.path != nil:
                throw .unreadableInput(path: error.path!, reason: MediaProbe.describe(error))
            case let error as FFmpegError: throw .outputFailed(path: outputPath, reason: "\(error.function): \(error.message)")
            default: throw .outputFailed(path: outputPath, reason: "\(error)")
            }
        }
    }

    private func remux(into temp: String) throws -> Written {
        let muxer = try Muxer(path: temp, formatName: formatName, cancellation: cancellation)
        // Input 1's parameters, completed by decoding, describe the output's streams; later inputs are only read.
        let first = try Demuxer(path: inputs[0].path, findStreamInfo: true, cancellation: cancellation)
        for s in 0..<first.streamCount {
            _ = try muxer.addStream(copying: first.stream(s), timeBase: plan.timeBases[s])
        }
        var options: [String: String] = [:]
        if faststart && (formatName == "mp4" || formatName == "mov") { options["movflags"] = "+faststart" }
        try muxer.writeHeader(options: options)
        let outTimeBases = (0..<first.streamCount).map { muxer.timeBase(of: $0) }

        let totalBytes = inputs.reduce(Int64(0)) { $0 + $1.fileSize }
        var bytesDone: Int64 = 0
        var lastDts = [Int64?](repeating: nil, count: first.streamCount)
        var written = [Int](repeating: 0, count: first.streamCount)
        let packet = try Packet()
        let writeback = Writeback(path: temp)
        for (i, input) in inputs.enumerated() {
            let demuxer = i == 0 ? first : try Demuxer(path: input.path, findStreamInfo: false, cancellation: cancellation)
            guard demuxer.streamCount == input.streams.count else {
                throw StitchError.unreadableInput(path: input.path, reason: "stream count changed since it was probed")
            }
            var mappers = (0..<input.streams.count).map { StitchPlan.PacketMapper(plan: plan, inputs: inputs, input: i, stream: $0) }
            var packetsRead = 0
            var perStream = [Int](repeating: 0, count: input.streams.count)
            while try demuxer.read(into: packet) {
                packetsRead += 1
                if packetsRead & 255 == 0, cancellation.isCancelled { throw StitchError.cancelled }
                let s = packet.streamIndex
                guard s < mappers.count else { continue }
                perStream[s] += 1
                let p = packet.pointer
                guard let mapped = mappers[s].map(pts: p.pointee.pts, dts: p.pointee.dts, duration: p.pointee.duration) else { continue }
                let planTB = plan.timeBases[s]
                p.pointee.pts = mapped.pts
                p.pointee.dts = mapped.dts
                p.pointee.duration = mapped.duration
                if mapped.clearsDiscard { p.pointee.flags &= ~AV.flagDiscard }
                if let trim = mapped.trimEnd { packet.setSkipSamples(start: 0, end: trim) }
                // Plan time base to the muxer's.
                let outTB = outTimeBases[s]
                p.pointee.pts = p.pointee.pts == AV.noPTS ? AV.noPTS : Ticks.rescale(p.pointee.pts, from: planTB, to: outTB)
                p.pointee.dts = p.pointee.dts == AV.noPTS ? AV.noPTS : Ticks.rescale(p.pointee.dts, from: planTB, to: outTB)
                p.pointee.duration = Ticks.rescale(p.pointee.duration, from: planTB, to: outTB)
                p.pointee.pos = -1
                if let previous = lastDts[s], p.pointee.dts <= previous {
                    throw StitchError.invalidInputs(StitchReport(inputs: [], boundaries: [], issues: [StitchIssue(
                        severity: .error, code: .outputDtsNotIncreasing, inputIndex: i, inputPath: input.path, stream: s,
                        message: "output dts \(p.pointee.dts) does not follow \(previous) (time base \(outTB))")], output: nil))
                }
                lastDts[s] = p.pointee.dts
                written[s] += 1
                try muxer.write(packet)
                writeback.advance(to: muxer.bytesWritten)
            }
            // The same file read twice must give the same packets: anything else lost frames since it was probed.
            if let line = demuxer.loggedErrors.first {
                throw StitchError.damagedInput(index: i, path: input.path, reason: "the file is corrupt or truncated; libavformat: \(line)")
            }
            for (s, stream) in input.streams.enumerated() where perStream[s] != stream.packetCount {
                throw StitchError.damagedInput(index: i, path: input.path,
                                               reason: "stream \(s): \(perStream[s]) packets read but \(stream.packetCount) when probed; the file changed or is damaged")
            }
            bytesDone += input.fileSize
            progress?(.remuxing(bytesRead: bytesDone, totalBytes: totalBytes))
            logger.trace("copied input \(i + 1) of \(inputs.count): \(input.path)")
        }
        progress?(.finishing)
        try muxer.finish()
        // The trailer is written; from here to the rename only cancellation can stop the run.
        if cancellation.isCancelled { throw StitchError.cancelled }
        // The report counts what the file holds: a muxer's bitstream filter must not have merged or dropped packets.
        for s in written.indices where muxer.packetsWritten(to: s) != Int64(written[s]) {
            throw StitchError.outputFailed(path: outputPath, reason: "stream \(s): \(written[s]) packets were copied but the muxer "
                + "wrote \(muxer.packetsWritten(to: s)) (its bitstream filter merged or dropped some: a corrupt frame in the inputs?)")
        }
        // stat follows /proc/self/fd/N to the file (FileManager's attributes would describe the link).
        var info = stat()
        let bytes = stat(temp, &info) == 0 ? Int64(info.st_size) : 0
        return Written(packets: written, bytes: bytes, timeBases: outTimeBases)
    }

    /// Starts writing the output to disk while the stitch goes on, every few megabytes, so the fsync before the
    /// rename waits for the last stretch only instead of the whole file.
    final class Writeback {
        private let fd: Int32
        private var started: Int64 = 0
        static let interval: Int64 = 8 << 20

        init(path: String) { fd = open(path, O_WRONLY) }
        deinit { if fd >= 0 { close(fd) } }

        func advance(to bytes: Int64) {
            guard fd >= 0, bytes - started >= Self.interval else { return }
            started = bytes
            _ = helios_start_writeback(fd)
        }
    }
}
