import Foundation

/// Splits a command line into arguments the way a POSIX shell would, without being one:
/// single quotes, double quotes (with `\"`, `\\`, `\$`, `` \` `` escapes) and backslash escapes are honoured;
/// globbing, variables, pipes and redirections are not (their characters are literal).
public enum CommandLineSplitter {
    /// Why a command line cannot be split.
    public enum SplitError: Error, Sendable, Hashable, CustomStringConvertible {
        case unterminatedQuote(Character)
        case trailingBackslash
        case empty

        public var description: String {
            switch self {
            case .unterminatedQuote(let q): "unterminated \(q) quote"
            case .trailingBackslash: "trailing backslash"
            case .empty: "no command"
            }
        }
    }

    /// The arguments of `line`; the first is the executable.
    public static func split(_ line: String) throws(SplitError) -> [String] {
        var args: [String] = []
        var current = ""
        var inWord = false
        var iterator = Array(line).makeIterator()
        while let c = iterator.next() {
            switch c {
            case " ", "\t", "\n", "\r":
                if inWord { args.append(current); current = ""; inWord = false }
            case "'":
                inWord = true
                var closed = false
                while let q = iterator.next() {
                    if q == "'" { closed = true; break }
                    current.append(q)
                }
                if !closed { throw .unterminatedQuote("'") }
            case "\"":
                inWord = true
                var closed = false
                while let q = iterator.next() {
                    if q == "\"" { closed = true; break }
                    if q == "\\" {
                        guard let e = iterator.next() else { throw .unterminatedQuote("\"") }
                        if e == "\"" || e == "\\" || e == "$" || e == "`" { current.append(e) }
                        else if e == "\n" { continue }
                        else { current.append("\\"); current.append(e) }
                        continue
                    }
                    current.append(q)
                }
                if !closed { throw .unterminatedQuote("\"") }
            case "\\":
                guard let e = iterator.next() else { throw .trailingBackslash }
                if e == "\n" { continue }
                inWord = true
                current.append(e)
            default:
                inWord = true
                current.append(c)
            }
        }
        if inWord { args.append(current) }
        if args.isEmpty { throw .empty }
        return args
    }

    /// Quotes `argument` so that `split` returns it unchanged.
    public static func quote(_ argument: String) -> String {
        let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/=:,+@%")
        if !argument.isEmpty && argument.allSatisfy({ safe.contains($0) }) { return argument }
        return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
