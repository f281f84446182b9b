import Dispatch
import Synchronization

/// A fixed number of threads that run jobs in the order they come. Used for handlers that are
/// slow on purpose, so that they neither hold up libmicrohttpd's threads nor run unbounded.
final class WorkerPool: Sendable {
    private let jobs = Mutex<(queue: [@Sendable () -> Void], stopping: Bool)>(([], false))
    private let waiting = DispatchSemaphore(value: 0)
    private let threads: Int

    init(threads: Int, label: String) {
        self.threads = max(1, threads)
        for index in 0..<self.threads {
            DispatchQueue(label: "\(label) \(index)").async { [self] in work() }
        }
    }

    func submit(_ job: @escaping @Sendable () -> Void) {
        jobs.withLock { $0.queue.append(job) }
        waiting.signal()
    }

    /// Lets the threads end after the jobs already submitted.
    func stop() {
        jobs.withLock { $0.stopping = true }
        for _ in 0..<threads { waiting.signal() }
    }

    private func work() {
        while true {
            waiting.wait()
            let next = jobs.withLock { state -> (@Sendable () -> Void)? in
                state.queue.isEmpty ? nil : state.queue.removeFirst()
            }
            guard let job = next else {
                if jobs.withLock({ $0.stopping }) { return }
                continue
            }
            job()
        }
    }
}
