import Testing
@testable import HeliosSynth

/// A small deterministic generator for noise in tests.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct BlockCodeTests {
    @Test(arguments: [0, 1, 29, 30, 255, 256, 65_535, 1_000_000, BlockCode.maxIndex])
    func cellsRoundTrip(index: Int) {
        let cells = BlockCode.cells(for: index)
        #expect(cells.count == BlockCode.columns * BlockCode.rows)
        #expect(BlockCode.decode(cells: cells) == index)
    }

    @Test func corruptedCellsAreRejected() {
        var cells = BlockCode.cells(for: 12345)
        for i in 4..<36 {
            cells[i].toggle()
            #expect(BlockCode.decode(cells: cells) == nil, "flipping data cell \(i) must fail the CRC")
            cells[i].toggle()
        }
        cells[0].toggle()
        #expect(BlockCode.decode(cells: cells) == nil)
    }

    @Test(arguments: [(160, 96), (320, 180), (640, 360), (1920, 1080)])
    func readsRenderedPicture(size: (Int, Int)) {
        for index in [0, 7, 4242, 999_999] {
            let image = FrameContent.image(index: index, width: size.0, height: size.1)
            let read = image.y.withUnsafeBufferPointer {
                BlockCode.read(luma: $0, stride: size.0, width: size.0, height: size.1)
            }
            #expect(read == index)
        }
    }

    @Test func toleratesNoiseAndContrastLoss() {
        var rng = SplitMix64(state: 42)
        for index in [3, 77, 123_456] {
            var image = FrameContent.image(index: index, width: 160, height: 96)
            // Squash contrast towards grey and add ±50 of noise per pixel.
            for i in image.y.indices {
                let squashed = 128 + (Int(image.y[i]) - 128) * 6 / 10
                image.y[i] = UInt8(clamping: squashed + Int.random(in: -50...50, using: &rng))
            }
            let read = image.y.withUnsafeBufferPointer { BlockCode.read(luma: $0, stride: 160, width: 160, height: 96) }
            #expect(read == index)
        }
    }

    @Test func flatPictureHasNoCode() {
        let flat = [UInt8](repeating: 128, count: 160 * 96)
        #expect(flat.withUnsafeBufferPointer { BlockCode.read(luma: $0, stride: 160, width: 160, height: 96) } == nil)
    }

    @Test func contentIsAPureFunctionOfTheIndex() {
        #expect(FrameContent.image(index: 31, width: 320, height: 180) == FrameContent.image(index: 31, width: 320, height: 180))
        #expect(FrameContent.image(index: 31, width: 320, height: 180) != FrameContent.image(index: 32, width: 320, height: 180))
    }
}

@Suite struct ToneTests {
    @Test(arguments: [(30, 48000), (30, 44100), (24, 48000), (25, 44100)])
    func chunksTileTheSampleLine(fps: Int, sampleRate: Int) {
        var next: Int64 = 0
        for start in stride(from: 0, to: 300, by: 7) {
            let chunk = Tone.chunkSamples(startFrame: start, frameCount: 7, fps: fps, sampleRate: sampleRate)
            #expect(chunk.first == next)
            next = chunk.first + Int64(chunk.count)
        }
        #expect(next == Tone.firstSample(ofFrame: 301, fps: fps, sampleRate: sampleRate))
    }

    @Test func backToBackChunksEqualOneLongRender() {
        let a = Tone.chunkSamples(startFrame: 0, frameCount: 31, fps: 30, sampleRate: 44100)
        let b = Tone.chunkSamples(startFrame: 31, frameCount: 29, fps: 30, sampleRate: 44100)
        let joined = Tone.samples(from: a.first, count: a.count, sampleRate: 44100)
            + Tone.samples(from: b.first, count: b.count, sampleRate: 44100)
        let whole = Tone.samples(from: 0, count: a.count + b.count, sampleRate: 44100)
        #expect(joined == whole)
        #expect(Tone.maxLag(sampleRate: 48000) >= 2000)
    }

    @Test(arguments: [0, 1, -1, 17, -480, 1024, -2000, 2000, 2399])
    func lagIsRecovered(shift: Int) {
        let expectedFirst: Int64 = 1_234_567
        let window = Tone.samples(from: expectedFirst + Int64(shift), count: 2048, sampleRate: 48000)
        #expect(Tone.estimateLag(window: window, expectedFirst: expectedFirst, sampleRate: 48000) == shift)
    }

    @Test func lagSurvivesGainAndNoise() {
        var rng = SplitMix64(state: 7)
        let window = Tone.samples(from: 96_000 + 333, count: 2048, sampleRate: 48000)
            .map { $0 * 0.6 + Float.random(in: -0.05...0.05, using: &rng) }
        #expect(Tone.estimateLag(window: window, expectedFirst: 96_000, sampleRate: 48000) == 333)
        #expect(Tone.estimateLag(window: [Float](repeating: 0, count: 2048), expectedFirst: 0, sampleRate: 48000) == nil)
    }
}

@Suite struct FrameSequenceTests {
    @Test func correctSequencePasses() {
        let a = FrameSequence.analyze(Array(10..<20), startFrame: 10, expected: 10)
        #expect(a.firstProblem == nil)
        #expect(a.duplicated + a.dropped + a.reordered + a.unreadable + a.unexpected == 0)
    }

    @Test func classifiesFirstProblem() {
        let dropped = FrameSequence.analyze([0, 1, 3, 4], startFrame: 0, expected: 5)
        #expect(dropped.firstProblem == FrameProblem(position: 2, kind: .dropped, expectedIndex: 2, foundIndex: 3))
        #expect(dropped.dropped == 1)
        let duplicated = FrameSequence.analyze([0, 1, 1, 2, 3], startFrame: 0, expected: 4)
        #expect(duplicated.firstProblem?.kind == .duplicated)
        #expect(duplicated.firstProblem?.position == 2)
        #expect(duplicated.duplicated == 1)
        let reordered = FrameSequence.analyze([0, 2, 1, 3], startFrame: 0, expected: 4)
        #expect(reordered.firstProblem == FrameProblem(position: 1, kind: .reordered, expectedIndex: 1, foundIndex: 2))
        #expect(reordered.reordered == 1)
        let short = FrameSequence.analyze([0, 1], startFrame: 0, expected: 3)
        #expect(short.firstProblem == FrameProblem(position: 2, kind: .dropped, expectedIndex: 2, foundIndex: nil))
        let unreadable = FrameSequence.analyze([0, nil, 2], startFrame: 0, expected: 3)
        #expect(unreadable.firstProblem?.kind == .unreadable)
        let extra = FrameSequence.analyze([0, 1, 2], startFrame: 0, expected: 2)
        #expect(extra.firstProblem?.kind == .unexpected)
    }
}
