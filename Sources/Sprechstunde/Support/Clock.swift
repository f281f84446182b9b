import Foundation

/// Unix seconds. Injected so that expiry rules are testable.
public struct Clock: Sendable {
    public let now: @Sendable () -> Int64

    public init(now: @escaping @Sendable () -> Int64) { self.now = now }

    public static let system = Clock { Int64(Date().timeIntervalSince1970) }
}
