import Foundation
import Sprechstunde

/// `sprechstunde notifications list|retry`: the outbox for operators, on the database directly.
extension CommandLineInterface {
    static func listNotifications(_ arguments: [String], _ environment: [String: String]) throws {
        let specs =
            storeSpecs + [
                OptionSpec("status", "pending|sent|failed", help: "only notifications in this state"),
                OptionSpec("call", "ID", help: "only notifications of this call"),
                OptionSpec("limit", "N", help: "at most N, newest first (default 50)"),
            ]
        let summary = "Lists notifications (e-mail and SMS) with their delivery state, newest first."
        try withOptions("notifications list", summary, specs, arguments, environment) { options in
            var status: OutboxMessage.Status?
            if let value = options.string("status") {
                guard let parsed = OutboxMessage.Status(rawValue: value) else {
                    throw UsageError(description: "--status takes pending, sent or failed, not '\(value)'")
                }
                status = parsed
            }
            let callID = try options.int("call", in: 1...Int.max).map(Int64.init)
            let limit = try options.int("limit", in: 1...10_000) ?? 50
            let page = try storeFrom(options).notifications(
                OutboxMessageQuery(status: status, callID: callID, page: PageRequest(page: 1, perPage: limit)))
            say(
                "\(page.total) notification\(page.total == 1 ? "" : "s")\(page.total > page.items.count ? ", newest \(page.items.count) shown" : "")."
            )
            for item in page.items {
                var line =
                    "#\(item.id)  call \(item.callID)  \(item.kind)  \(item.channel.rawValue) to \(item.recipient)  "
                line += "\(item.status.rawValue), \(item.attempts) attempt\(item.attempts == 1 ? "" : "s")"
                if let error = item.lastError, item.status != .sent { line += "  (\(error))" }
                say(line)
            }
        }
    }

    static func retryNotification(_ arguments: [String], _ environment: [String: String]) throws {
        let specs = storeSpecs + [OptionSpec("id", "ID", help: "the failed notification to queue again")]
        let summary = "Queues a failed notification again; a running server sends it within seconds."
        try withOptions("notifications retry", summary, specs, arguments, environment) { options in
            guard let id = try options.int("id", in: 1...Int.max) else {
                throw UsageError(description: "notifications retry needs --id (see notifications list --status failed)")
            }
            let store = try storeFrom(options)
            guard let notification = try store.notification(id: Int64(id)) else {
                throw UsageError(description: "there is no notification \(id)")
            }
            guard notification.status == .failed else {
                throw UsageError(description: "notification \(id) is \(notification.status.rawValue), not failed")
            }
            try store.requeueNotification(id: Int64(id), now: Clock.system.now())
            say("Notification \(id) is queued again.")
        }
    }
}
