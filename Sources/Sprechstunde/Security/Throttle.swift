import Synchronization

/// Counts failures per key in a sliding window and refuses once a key has too many.
/// Used for sign-in (per account and per client address) and, later, TAN guessing.
///
/// The state is per process: behind a load balancer each node throttles on its own, which
/// still bounds guessing to nodes × limit per window.
public final class Throttle: Sendable {
    public let limit: Int
    public let window: Int64
    private let failures = Mutex<[String: [Int64]]>([:])
    private let maximumKeys: Int

    public init(limit: Int, window: Int64, maximumKeys: Int = 100_000) {
        self.limit = limit
        self.window = window
        self.maximumKeys = maximumKeys
    }

    /// Seconds until `key` may try again, or nil if it may try now.
    public func retryAfter(_ key: String, now: Int64) -> Int? {
        failures.withLock { table in
            guard var times = table[key] else { return nil }
            times.removeAll { $0 <= now - window }
            table[key] = times.isEmpty ? nil : times
            guard times.count >= limit, let oldest = times.first else { return nil }
            return Int(max(1, oldest + window - now))
        }
    }

    public func recordFailure(_ key: String, now: Int64) {
        failures.withLock { table in
            if table.count >= maximumKeys && table[key] == nil {
                // Bounded memory under a flood of distinct keys: drop entries that have aged out.
                table = table.filter { $0.value.last.map { $0 > now - window } ?? false }
                // Still full: forget keys that are not blocked, so a flood cannot unblock anyone.
                if table.count >= maximumKeys { table = table.filter { $0.value.count >= limit } }
            }
            var times = table[key, default: []]
            times.removeAll { $0 <= now - window }
            times.append(now)
            if times.count > limit { times.removeFirst(times.count - limit) }
            table[key] = times
        }
    }

    public func reset(_ key: String) {
        failures.withLock { $0[key] = nil }
    }
}
