import Foundation

/// Reads typed settings from environment variables, with documented defaults for the local stack.
///
/// A bad or missing setting raises ``ConfigurationError`` with one clear line naming the variable;
/// ``ServiceMain`` prints it and exits non-zero. Values of secret settings never appear in errors.
public struct Settings: Sendable {
    private let values: [String: String]

    /// Reads from the process environment (or, in tests, from `values`).
    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The raw value of `key`, or `nil` when unset or empty.
    public func raw(_ key: String) -> String? {
        guard let value = values[key], !value.isEmpty else { return nil }
        return value
    }

    /// A string setting with a default.
    public func string(_ key: String, default defaultValue: String) -> String {
        raw(key) ?? defaultValue
    }

    /// A string setting that must be present.
    public func requiredString(_ key: String, isSecret: Bool = false) throws -> String {
        guard let value = raw(key) else { throw ConfigurationError(key: key, problem: "is required but not set") }
        return value
    }

    /// An integer setting with a default, checked against `range`.
    public func int(_ key: String, default defaultValue: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = raw(key) else { return defaultValue }
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigurationError(key: key, problem: "must be a whole number, got \"\(text)\"")
        }
        guard range.contains(value) else {
            throw ConfigurationError(key: key, problem: "must be between \(range.lowerBound) and \(range.upperBound), got \(value)")
        }
        return value
    }

    /// A duration given in (possibly fractional) seconds, with a default.
    public func seconds(_ key: String, default defaultValue: Duration, range: ClosedRange<Double>) throws -> Duration {
        guard let text = raw(key) else { return defaultValue }
        guard let value = Double(text.trimmingCharacters(in: .whitespaces)), value.isFinite else {
            throw ConfigurationError(key: key, problem: "must be a number of seconds, got \"\(text)\"")
        }
        guard range.contains(value) else {
            throw ConfigurationError(key: key, problem: "must be between \(range.lowerBound) and \(range.upperBound) seconds, got \(text)")
        }
        return .milliseconds(Int64((value * 1000).rounded()))
    }

    /// One of a fixed set of values, with a default.
    public func choice<T: RawRepresentable & CaseIterable>(_ key: String, default defaultValue: T) throws -> T
    where T.RawValue == String {
        guard let text = raw(key) else { return defaultValue }
        guard let value = T(rawValue: text.lowercased()) else {
            let allowed = T.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(key: key, problem: "must be one of \(allowed), got \"\(text)\"")
        }
        return value
    }
}

/// A setting is missing or malformed. The description is one line, names the variable, and never
/// contains the value of a secret.
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    /// The environment variable at fault.
    public var key: String
    /// What is wrong with it.
    public var problem: String

    public init(key: String, problem: String) {
        self.key = key
        self.problem = problem
    }

    public var description: String { "configuration error: \(key) \(problem)" }
}
