import Foundation

/// UTC timestamps in RFC 3339's form, `2026-12-06T10:02:58Z`, written and read with integer arithmetic: what
/// Foundation's `.iso8601` JSON strategies and `ISO8601DateFormatter` write, without their cost. Foundation makes a
/// Gregorian calendar in the current time zone before it formats or parses a date, and finding the current zone
/// loads ICU's zone data: 2.1 MB of a `helios job run`'s peak memory, for dates that are always UTC.
///
/// Pure. Dates are written to the whole second (the fraction is dropped, as Foundation drops it), in the years 1583 to
/// 9999 (Foundation's calendar is Julian before October 1582); a date outside those years and any text outside the
/// form below are handed to Foundation, so nothing it wrote or read before is read or written differently now.
public enum InternetDate {
    /// `yyyy-MM-ddTHH:mm:ssZ`, the second rounded down.
    public static func format(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        guard seconds >= -12_212_553_600, seconds < 253_402_300_800 else {
            return date.formatted(Date.ISO8601FormatStyle())  // outside years 1583-9999
        }
        let whole = Int64(seconds)
        let days = whole >= 0 ? whole / 86_400 : (whole - 86_399) / 86_400
        let second = whole - days * 86_400
        let (year, month, day) = civil(fromDays: days)
        var text = ""
        text.reserveCapacity(20)
        func append(_ value: Int64, digits: Int) {
            var divisor: Int64 = 1
            for _ in 1..<digits { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                text.unicodeScalars.append(Unicode.Scalar(UInt8(48 + rest / divisor)))
                rest %= divisor
                divisor /= 10
            }
        }
        append(year, digits: 4); text += "-"; append(month, digits: 2); text += "-"; append(day, digits: 2)
        text += "T"
        append(second / 3600, digits: 2); text += ":"; append(second / 60 % 60, digits: 2); text += ":"; append(second % 60, digits: 2)
        text += "Z"
        return text
    }

    /// Reads `yyyy-MM-ddTHH:mm:ss`, an optional fraction of a second, then `Z` or an offset `±HH:mm`; anything else is
    /// read by Foundation's ISO 8601 parser as before. Nil when neither reads it.
    public static func parse(_ text: String) -> Date? {
        if let date = parseForm(Array(text.utf8)) { return date }
        return try? Date.ISO8601FormatStyle().parse(text)
    }

    /// The JSON encoding of dates as `format` writes them.
    public static var encodingStrategy: JSONEncoder.DateEncodingStrategy {
        .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(format(date))
        }
    }

    /// The JSON decoding of dates as `parse` reads them.
    public static var decodingStrategy: JSONDecoder.DateDecodingStrategy {
        .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parse(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "Expected date string to be ISO8601-formatted.")
            }
            return date
        }
    }

    /// The form `format` writes, with a fraction and an offset allowed, in the years it writes.
    static func parseForm(_ bytes: [UInt8]) -> Date? {
        var i = 0
        func number(_ digits: Int) -> Int64? {
            guard i + digits <= bytes.count else { return nil }
            var value: Int64 = 0
            for _ in 0..<digits {
                let digit = bytes[i] &- 48
                guard digit < 10 else { return nil }
                value = value * 10 + Int64(digit)
                i += 1
            }
            return value
        }
        func expect(_ byte: UInt8) -> Bool {
            guard i < bytes.count, bytes[i] == byte else { return false }
            i += 1
            return true
        }
        guard let year = number(4), year >= 1583, expect(UInt8(ascii: "-")), let month = number(2), (1...12).contains(month),
              expect(UInt8(ascii: "-")), let day = number(2), day >= 1, day <= daysIn(month: month, year: year),
              expect(UInt8(ascii: "T")), let hour = number(2), hour < 24, expect(UInt8(ascii: ":")),
              let minute = number(2), minute < 60, expect(UInt8(ascii: ":")), let second = number(2), second < 60
        else { return nil }
        var fraction = 0.0
        if expect(UInt8(ascii: ".")) {
            var scale = 0.1, digits = 0
            while i < bytes.count, bytes[i] &- 48 < 10 {
                fraction += Double(bytes[i] - 48) * scale
                scale /= 10
                digits += 1
                i += 1
            }
            guard digits > 0 else { return nil }
        }
        var offset: Int64 = 0
        if expect(UInt8(ascii: "Z")) {
        } else if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") {
            let sign: Int64 = bytes[i] == UInt8(ascii: "-") ? -1 : 1
            i += 1
            guard let hours = number(2), hours < 24, expect(UInt8(ascii: ":")), let minutes = number(2), minutes < 60 else { return nil }
            offset = sign * (hours * 3600 + minutes * 60)
        } else {
            return nil
        }
        guard i == bytes.count else { return nil }
        let whole = days(fromCivil: year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset
        return Date(timeIntervalSince1970: Double(whole) + fraction)
    }

    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date (`days_from_civil`).
    static func days(fromCivil year: Int64, _ month: Int64, _ day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
