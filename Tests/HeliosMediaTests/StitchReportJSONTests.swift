import Foundation
@testable import HeliosMedia
import HeliosTestSupport
import Testing

/// `StitchReport.encodedJSON` writes a report a slice of elements at a time (a 10,000-input report no longer builds
/// JSONEncoder's whole tree at once), and `writeJSON` hands the text out in pieces: its bytes must be JSONEncoder's,
/// for every layout and slice length.
@Suite("Stitch report JSON: written in slices, the same bytes as JSONEncoder")
struct StitchReportJSONTests {
    static let layouts: [JSONEncoder.OutputFormatting] = [[], [.prettyPrinted], [.prettyPrinted, .withoutEscapingSlashes], [.withoutEscapingSlashes]]

    /// The report of stitching the set, or of its refusal (with issues and no output).
    static func report(of set: String) async throws -> StitchReport {
        let files = try await FixtureCache.shared.files(set)
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let output = dir.appendingPathComponent("out.\(files[0].pathExtension == "m4a" ? "m4a" : files[0].pathExtension)")
        do { return try NativeStitcher().stitchSync(files, to: output) } catch StitchError.invalidInputs(let report) { return report }
    }

    @Test("the same bytes for every layout and slice length", arguments: ["mp4-h264-aac", "webm-vp9-opus", "ts-h264-aac", "exact-mkv", "bad-fps", "bad-codec"])
    func sameBytes(set: String) async throws {
        var report = try await Self.report(of: set)
        try #require(!report.inputs.isEmpty)
        // Slashes in strings (escaped or not), and an input repeated so slices end mid-array.
        report.inputs += report.inputs
        report.boundaries += report.boundaries
        for layout in Self.layouts {
            let encoder = JSONEncoder()
            encoder.outputFormatting = layout.union(.sortedKeys)
            let expected = try encoder.encode(report)
            for slice in [1, 2, 3, report.inputs.count - 1, StitchReport.defaultSliceLength] {
                let sliced = try report.encodedJSON(formatting: layout, sliceLength: slice)
                #expect(sliced == expected, "\(set), layout \(layout.rawValue), slices of \(slice): \(String(decoding: sliced.prefix(400), as: UTF8.self))")
                // Handed out in pieces (as helios-stitch --json prints it): the same bytes, each piece whole UTF-8.
                for flush in [1, 300] {
                    var pieces: [Data] = []
                    try report.writeJSON(formatting: layout, sliceLength: slice, flushingAt: flush) { pieces.append($0) }
                    #expect(pieces.reduce(Data(), +) == expected, "\(set), layout \(layout.rawValue), slices of \(slice), pieces from \(flush) bytes")
                    #expect(pieces.allSatisfy { String(validating: $0, as: UTF8.self) != nil })
                    if slice < report.inputs.count { #expect(pieces.count > 2) }
                }
            }
        }
    }

    @Test("empty arrays and no output keep JSONEncoder's layout")
    func emptyParts() throws {
        let report = StitchReport(inputs: [], boundaries: [], issues: [], output: nil)
        for layout in Self.layouts {
            let encoder = JSONEncoder()
            encoder.outputFormatting = layout.union(.sortedKeys)
            #expect(try report.encodedJSON(formatting: layout, sliceLength: 1) == encoder.encode(report))
        }
    }

    /// The writer lists the members by hand: a member added to the type must be added there too.
    @Test("the writer covers every stored member of StitchReport")
    func everyMember() {
        let report = StitchReport(inputs: [], boundaries: [], issues: [], output: nil)
        #expect(Set(Mirror(reflecting: report).children.compactMap(\.label)) == ["boundaries", "inputs", "issues", "output"])
    }
}
