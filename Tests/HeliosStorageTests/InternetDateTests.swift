import Foundation
import Testing
@testable import HeliosStorage

/// `InternetDate` against Foundation's ISO 8601 formatting and parsing, the oracle it replaces.
@Suite struct InternetDateTests {
    /// Seconds since 1970 across the years it writes itself (1583 to 9999) and beyond them, leap days, day and year
    /// edges, and fractions on both sides of the epoch.
    static let instants: [Double] = {
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [
            0, -1, -0.5, 0.999, 86_399.75, 86_400, 951_782_400, 951_868_799, 4_107_542_399, 1_798_848_000,
            -62_135_596_800, -12_212_553_600, -12_212_553_601, -12_219_292_800, 253_402_300_799.5, 253_402_300_800, -2_208_988_800, 68_256_000, 1_765_015_378.123456,
        ]
        for _ in 0..<2_000 { values.append(Double.random(in: -62_135_596_800..<260_000_000_000, using: &generator).rounded(.down)) }
        for _ in 0..<500 { values.append(Double(Int.random(in: 0..<4_000_000_000, using: &generator)) + 0.25) }
        return values
    }()

    @Test func writesWhatFoundationWrites() throws {
        let oracle = Date.ISO8601FormatStyle()
        for seconds in Self.instants {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(InternetDate.format(date) == date.formatted(oracle), "\(seconds)")
        }
    }

    @Test func readsWhatItWritesAndWhatFoundationReads() throws {
        let oracle = Date.ISO8601FormatStyle()
        for seconds in Self.instants {
            let text = InternetDate.format(Date(timeIntervalSince1970: seconds))
            let ours = try #require(InternetDate.parse(text), "\(text)")
            #expect(ours == (try oracle.parse(text)), "\(text)")
            guard (-12_212_553_600..<253_402_300_800).contains(seconds) else { continue }
            let own = try #require(InternetDate.parseForm(Array(text.utf8)), "\(text)")
            #expect(own.timeIntervalSince1970 == seconds.rounded(.down), "\(text)")
        }
    }

    /// Expected values from Python's `datetime.fromisoformat`.
    @Test(arguments: [
        ("2026-12-06T10:02:58+01:30", 1_796_545_978.0), ("2026-12-06T10:02:58-00:45", 1_796_554_078.0),
        ("2026-12-06T10:02:58.250Z", 1_796_551_378.25), ("2024-02-29T23:59:59Z", 1_709_251_199.0),
        ("1583-01-01T00:00:00Z", -12_212_553_600.0),
    ])
    func readsOffsetsAndFractions(_ text: String, _ seconds: Double) throws {
        let date = try #require(InternetDate.parseForm(Array(text.utf8)))
        #expect(abs(date.timeIntervalSince1970 - seconds) < 1e-6)
        #expect(InternetDate.parse(text) == date)
    }

    @Test(arguments: [
        "", "2026-12-06", "2026-12-06T10:02:58", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z",
        "2026-12-06T24:00:00Z", "2026-12-06T10:60:00Z", "2026-12-06T10:02:61Z", "2026-12-06T10:02:58.Z",
        "2026-12-06T10:02:58+0100", "2026-12-06 10:02:58Z", "2026-12-06T10:02:58Zjunk", "0000-01-01T00:00:00Z", "1582-12-31T23:59:59Z", "２０２６-12-06T10:02:58Z",
    ])
    func refusesTextOutsideItsForm(_ text: String) {
        #expect(InternetDate.parseForm(Array(text.utf8)) == nil)
    }

    @Test func anythingElseIsReadAsFoundationReadsIt() {
        // Outside the form, Foundation decides, as before this type.
        for text in ["2026-12-06T10:02:58+0100", "garbage", "2026-02-29T00:00:00Z"] {
            #expect(InternetDate.parse(text) == (try? Date.ISO8601FormatStyle().parse(text)), "\(text)")
        }
    }

    @Test func jsonStrategiesRoundTripAndMatchFoundationsOutput() throws {
        struct Stamp: Codable, Equatable { var at: Date; var maybe: Date? }
        let value = Stamp(at: Date(timeIntervalSince1970: 1_765_015_378), maybe: Date(timeIntervalSince1970: -86_400))
        let ours = JSONEncoder(), theirs = JSONEncoder()
        ours.dateEncodingStrategy = InternetDate.encodingStrategy
        theirs.dateEncodingStrategy = .iso8601
        ours.outputFormatting = .sortedKeys
        theirs.outputFormatting = .sortedKeys
        let data = try ours.encode(value)
        #expect(data == (try theirs.encode(value)))
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = InternetDate.decodingStrategy
        #expect(try decoder.decode(Stamp.self, from: data) == value)
        #expect(throws: DecodingError.self) { try decoder.decode(Stamp.self, from: Data(#"{"at":"yesterday"}"#.utf8)) }
    }
}
