#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Silent chunks and sound that ends early or starts late: the inputs read from stand-ins (`SilentTrack`).
extension IncrementalStitch {
    /// `input`, or where it lacks the sound track input 1 has, the probe of the stand-in made for it (`SilentTrack`).
    /// Where `input` is the first with a sound track, the inputs before it (silent, input 1 among them) get stand-ins
    /// made like it, the stitch starts again from the first of them, and `input` is taken as it is.
    func standIn(for input: ProbedInput, index: Int) throws(StitchError) -> ProbedInput {
        guard index > 0, let first = probed.first else { return input }
        let directory = standInDirectory
        if SilentTrack.isMissingAudio(input, first: first), let parameters = reference?.streams {
            guard let path = try standIns.write(for: input, index: index, like: first, likeIndex: 0, parameters: parameters,
                                                directory: directory, cancellation: cancellation, logger: stitcher.logger) else { return input }
            return try probeStandIn(path, fallback: input)
        }
        guard SilentTrack.isMissingAudio(first, first: input), probed.allSatisfy({ SilentTrack.isMissingAudio($0, first: input) }) else { return input }
        // The silent inputs so far are given a sound track made like this one's, and probed again from the first.
        let parameters: StreamParameters
        do {
            parameters = try StreamParameters(Demuxer(path: input.path, findStreamInfo: true, cancellation: cancellation, format: input.formatName))
        } catch {
            if error.isInterrupted { throw .cancelled }
            return input
        }
        var paths: [String] = []
        for (j, silent) in probed.enumerated() {
            guard let path = try standIns.write(for: silent, index: j, like: input, likeIndex: index, parameters: parameters,
                                                directory: directory, cancellation: cancellation, logger: stitcher.logger) else {
                for path in paths { standIns.drop(path) }
                return input
            }
            paths.append(path)
        }
        let previous = reference
        reference = nil
        var filled: [ProbedInput] = []
        do {
            for path in paths {
                filled.append(try probeFile(path))
            }
        } catch {
            if case .cancelled = error { throw .cancelled }
            for path in paths { standIns.drop(path) }
            reference = previous
            return input
        }
        probed = filled
        restartPlanning()
        return input
    }

    /// Where input `i`'s sound ends before its picture and no input after it carries the sound on (the next has no
    /// sound track, or `i` is the last), reads input `i` from a stand-in with silence after its sound, and plans the
    /// inputs again from `i` (an input not yet written: it waits for the one after it).
    func padTail(of i: Int, isLast: Bool) throws(StitchError) {
        guard i >= 0, i < probed.count, i >= inputsWritten else { return }
        let tails = SilentTrack.shortTails(probed[i])
        guard !tails.isEmpty, let path = try standIns.write(for: probed[i], index: i, tails: tails, isLast: isLast, directory: standInDirectory,
                                                            cancellation: cancellation, logger: stitcher.logger) else { return }
        let padded = try probeStandIn(path, fallback: probed[i])
        guard padded.path == path else { return }
        probed[i] = padded
        normalizer = InputNormalizer()
        replacedFrom = min(replacedFrom ?? i, i)
        lastStep = nil
    }

    /// `input` (input `index`), or where its sound starts after its picture and no input before it has sound of its
    /// own (it is the first, or the one before it is a silent stand-in), the probe of a stand-in with silence before
    /// its sound: where a soundtrack that starts late begins.
    func padHead(of input: ProbedInput, index: Int) throws(StitchError) -> ProbedInput {
        guard index == 0 || standIns.isSilent(probed[index - 1].path) else { return input }
        let heads = SilentTrack.lateHeads(input)
        guard !heads.isEmpty, let path = try standIns.write(for: input, index: index, heads: heads, directory: standInDirectory,
                                                            cancellation: cancellation, logger: stitcher.logger) else { return input }
        return try probeStandIn(path, fallback: input)
    }

    /// Where stand-ins are written: beside the output (or in the temp directory for `checkOnly`).
    private var standInDirectory: URL {
        stitcher.options.checkOnly ? FileManager.default.temporaryDirectory : output.deletingLastPathComponent()
    }

    /// Probes the stand-in at `path`; `fallback` (and the stand-in forgotten) where that fails.
    private func probeStandIn(_ path: String, fallback: ProbedInput) throws(StitchError) -> ProbedInput {
        do {
            return try probeFile(path)
        } catch {
            if case .cancelled = error { throw .cancelled }
            standIns.drop(path)
            return fallback
        }
    }
}
