/// Property wrappers that store a probe's fields in fewer bytes than their public types (see `ProbedStream`).
/// Each encodes as its wrapped value, and an optional one that holds nil leaves its key out, as `Codable` does for
/// an optional property.

/// An optional timestamp in 8 bytes: `Int64.min` (`AV_NOPTS_VALUE`, never a timestamp) stands for nil.
@propertyWrapper
public struct OptionalTicks: Sendable, Hashable, CompactStored {
    private var stored: Int64
    public init(wrappedValue: Int64?) { stored = wrappedValue ?? .min }
    public var wrappedValue: Int64? {
        get { stored == .min ? nil : stored }
        set { stored = newValue ?? .min }
    }
}

/// A count in 4 bytes, clamped to `Int32` (a count beyond it would take a file of two billion packets).
@propertyWrapper
public struct Count32: Sendable, Hashable, CompactStored {
    private var stored: Int32
    public init(wrappedValue: Int) { stored = Int32(clamping: wrappedValue) }
    public var wrappedValue: Int {
        get { Int(stored) }
        set { stored = Int32(clamping: newValue) }
    }
}

/// An optional count or packet index in 4 bytes: `Int32.min` stands for nil.
@propertyWrapper
public struct OptionalCount32: Sendable, Hashable, CompactStored {
    private var stored: Int32
    public init(wrappedValue: Int?) { stored = wrappedValue.map { Int32(clamping: $0) } ?? .min }
    public var wrappedValue: Int? {
        get { stored == .min ? nil : Int(stored) }
        set { stored = newValue.map { Int32(clamping: $0) } ?? .min }
    }
}

/// An optional rational in 8 bytes: 0/0 stands for nil.
@propertyWrapper
public struct OptionalRational: Sendable, Hashable, CompactStored {
    private var stored: Rational
    public init(wrappedValue: Rational?) { stored = wrappedValue ?? Rational(0, 0) }
    public var wrappedValue: Rational? {
        get { stored.num == 0 && stored.den == 0 ? nil : stored }
        set { stored = newValue ?? Rational(0, 0) }
    }
}

/// An optional value most instances leave nil, in 8 bytes: a shared immutable box, nil for nil.
@propertyWrapper
public struct Boxed<Value: Sendable & Hashable>: Sendable, Hashable {
    private final class Box: Sendable {
        let value: Value
        init(_ value: Value) { self.value = value }
    }

    private var box: Box?
    public init(wrappedValue: Value?) { box = wrappedValue.map(Box.init) }
    public var wrappedValue: Value? {
        get { box?.value }
        set { box = newValue.map(Box.init) }
    }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.box === rhs.box || lhs.wrappedValue == rhs.wrappedValue }
    public func hash(into hasher: inout Hasher) { hasher.combine(wrappedValue) }
}

/// A stored field that encodes as its wrapped value.
public protocol CompactStored: Codable {
    associatedtype Value: Codable
    init(wrappedValue: Value)
    var wrappedValue: Value { get }
}

extension CompactStored {
    public init(from decoder: any Decoder) throws { self.init(wrappedValue: try decoder.singleValueContainer().decode(Value.self)) }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(wrappedValue)
    }
}

// Synthesized coding calls these for the optional wrappers: nil leaves the key out, and a missing key reads as nil.
extension KeyedEncodingContainer {
    mutating func encode(_ value: OptionalTicks, forKey key: Key) throws { try encodeIfPresent(value.wrappedValue, forKey: key) }
    mutating func encode(_ value: OptionalCount32, forKey key: Key) throws { try encodeIfPresent(value.wrappedValue, forKey: key) }
    mutating func encode(_ value: OptionalRational, forKey key: Key) throws { try encodeIfPresent(value.wrappedValue, forKey: key) }
}

extension KeyedDecodingContainer {
    func decode(_ type: OptionalTicks.Type, forKey key: Key) throws -> OptionalTicks {
        OptionalTicks(wrappedValue: try decodeIfPresent(Int64.self, forKey: key))
    }
    func decode(_ type: OptionalCount32.Type, forKey key: Key) throws -> OptionalCount32 {
        OptionalCount32(wrappedValue: try decodeIfPresent(Int.self, forKey: key))
    }
    func decode(_ type: OptionalRational.Type, forKey key: Key) throws -> OptionalRational {
        OptionalRational(wrappedValue: try decodeIfPresent(Rational.self, forKey: key))
    }
}
