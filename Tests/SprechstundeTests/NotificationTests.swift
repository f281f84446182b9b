import Foundation
import Synchronization
import Testing

@testable import Sprechstunde
@testable import SprechstundeSQLite

@Suite("iCalendar")
struct ICalendarTests {
    let entry = ICalendar(
        method: .request, uid: "call-7@video.example", sequence: 2, start: 1_796_299_200, end: 1_796_301_000,
        stamp: 1_796_000_000, summary: "Videosprechstunde, Praxis; Dr. Müller",
        description: "Link: https://video.example/video/login?tan=abcd-EFGH-1234\nTAN: abcd-EFGH-1234",
        location: nil, organizer: "video@praxis.example", attendee: "pat@example.org")

    @Test("CRLF lines, UTC times, METHOD, UID and SEQUENCE")
    func structure() {
        let lines = entry.text.components(separatedBy: "\r\n")
        #expect(lines.first == "BEGIN:VCALENDAR")
        #expect(lines.contains("METHOD:REQUEST"))
        #expect(lines.contains("UID:call-7@video.example"))
        #expect(lines.contains("SEQUENCE:2"))
        #expect(lines.contains("DTSTART:20261203T120000Z"))
        #expect(lines.contains("DTEND:20261203T123000Z"))
        #expect(lines.contains("STATUS:CONFIRMED"))
        #expect(entry.text.hasSuffix("END:VCALENDAR\r\n"))
        #expect(!entry.text.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "bare newlines are escaped")
    }

    @Test("text values escape backslash, comma, semicolon and newlines")
    func escaping() {
        #expect(ICalendar.escape("a,b;c\\d\ne") == "a\\,b\\;c\\\\d\\ne")
        #expect(entry.text.contains("SUMMARY:Videosprechstunde\\, Praxis\\; Dr. Müller"))
    }

    @Test("lines fold at 75 octets without splitting a UTF-8 character")
    func folding() {
        let long = "DESCRIPTION:" + String(repeating: "ü", count: 80)
        let folded = ICalendar.fold(long)
        for line in folded.components(separatedBy: "\r\n") {
            #expect(line.utf8.count <= 75)
        }
        #expect(folded.replacingOccurrences(of: "\r\n ", with: "") == long)
    }

    @Test("a cancellation says CANCEL and CANCELLED")
    func cancel() {
        var cancelled = entry
        cancelled.method = .cancel
        #expect(cancelled.text.contains("METHOD:CANCEL\r\n"))
        #expect(cancelled.text.contains("STATUS:CANCELLED\r\n"))
    }
}

@Suite("SMS length")
struct SMSTextTests {
    @Test("GSM 7-bit: 160 in one part, 153 per part beyond; extension characters count double")
    func gsm() {
        #expect(SMSText.encoding(of: "Termin am 05.12. um 14:00, Praxis Müller") == .gsm7)
        #expect(SMSText.parts(String(repeating: "a", count: 160)) == 1)
        #expect(SMSText.parts(String(repeating: "a", count: 161)) == 2)
        #expect(SMSText.parts(String(repeating: "a", count: 306)) == 2)
        #expect(SMSText.parts(String(repeating: "a", count: 307)) == 3)
        #expect(SMSText.units("€[]", .gsm7) == 6)
    }

    @Test("anything else is UCS-2: 70 and 67")
    func ucs2() {
        #expect(SMSText.encoding(of: "Termin – morgen") == .ucs2)
        #expect(SMSText.parts(String(repeating: "ł", count: 70)) == 1)
        #expect(SMSText.parts(String(repeating: "ł", count: 71)) == 2)
    }

    @Test("texts are cut to the allowed parts, keeping their start")
    func limited() {
        let long = "https://video.example/video/login?tan=abcd-EFGH-1234 " + String(repeating: "x", count: 600)
        let cut = SMSText.limited(long, maximumParts: 2)
        #expect(SMSText.parts(cut) == 2)
        #expect(cut.hasPrefix("https://video.example/video/login?tan=abcd-EFGH-1234"))
        #expect(cut.hasSuffix("..."))
        #expect(SMSText.limited("kurz", maximumParts: 1) == "kurz")
        let unicode = SMSText.limited(String(repeating: "ł", count: 300), maximumParts: 3)
        #expect(SMSText.parts(unicode) == 3)
        #expect(unicode.hasSuffix("…"))
    }
}

/// A transport that records what it is given and answers with the next scripted outcome; with
/// nothing scripted it fails the test, so that no delivery goes unnoticed.
final class ScriptedTransport: MailTransport, SMSTransport {
    let state = Mutex<(sent: [OutboxMessage], script: [DeliveryFailure?])>(([], []))

    func answer(_ outcomes: DeliveryFailure?...) { state.withLock { $0.script += outcomes } }
    var sent: [OutboxMessage] { state.withLock { $0.sent } }

    func send(_ notification: OutboxMessage) throws(DeliveryFailure) {
        let outcome: DeliveryFailure?? = state.withLock { state in
            state.script.isEmpty ? .none : .some(state.script.removeFirst())
        }
        guard let outcome else {
            Issue.record("unexpected delivery to \(notification.recipient)")
            throw .temporary("unscripted")
        }
        if let failure = outcome { throw failure }
        state.withLock { $0.sent.append(notification) }
    }
}

@Suite("Delivery of appointment notifications")
struct DeliveryServiceTests {
    let world: World
    let mail = ScriptedTransport()
    let sms = ScriptedTransport()
    let delivery: DeliveryService

    init() throws {
        world = try World()
        var settings = DeliveryService.Settings(
            planner: .init(baseURL: "https://video.praxis.example", senderAddress: "video@praxis.example"))
        settings.backoff = [10, 100]
        settings.maximumAttempts = 3
        delivery = DeliveryService(
            store: world.store, clock: world.clock.clock, settings: settings, mail: mail, sms: sms)
    }

    func subscribe(_ user: User, kinds: [NotificationOption.Kind], email: [String] = [], sms: [String]? = nil) throws {
        var updated = try #require(try world.store.user(id: user.id))
        updated.notificationOptions =
            [NotificationOption(kind: .emailChannel, enabled: true, values: email)]
            + (sms.map { [NotificationOption(kind: .smsChannel, enabled: true, values: $0)] } ?? [])
            + kinds.map { NotificationOption(kind: $0, enabled: true) }
        try world.store.updateUser(updated, passwordHash: nil)
    }

    func futureCall(email: String? = "pat@example.org") throws -> Call {
        try world.makeCall(by: world.doctorA, begin: world.clock.now + 86_400, tanEmail: email)
    }

    @Test("the patient's invitation carries the waiting-area link, the TAN and a REQUEST")
    func invitation() throws {
        let call = try futureCall()
        mail.answer(nil)
        let run = try delivery.runOnce()
        #expect(run.expanded == 1 && run.sent == 1)
        let sent = try #require(mail.sent.first)
        let tan = try #require(try world.tanParticipant(call).tan)
        #expect(sent.recipient == "pat@example.org")
        #expect(sent.audience == .patient)
        #expect(sent.message.text.contains("https://video.praxis.example/video/login?tan=\(tan)"))
        #expect(sent.message.calendarMethod == "REQUEST")
        #expect(sent.message.calendar?.contains("UID:call-\(call.id)@video.praxis.example") == true)
        #expect(try delivery.runOnce() == DeliveryService.RunSummary(), "nothing is sent twice")
    }

    @Test("staff are told only about the events they enabled, at their own and extra addresses")
    func staffOptions() throws {
        try subscribe(world.doctorA, kinds: [.appointmentChanged], email: ["empfang@a.example"], sms: ["+4917011111"])
        let call = try futureCall(email: nil)
        #expect(try delivery.runOnce().expanded == 1, "2001 is not enabled: no messages")
        var patch = CallPatch()
        patch.begin = call.begin + 3600
        _ = try world.calls.update(as: world.principal(world.doctorA), id: call.id, patch)
        mail.answer(nil, nil)
        sms.answer(nil)
        #expect(try delivery.runOnce().sent == 3)
        #expect(Set(mail.sent.map(\.recipient)) == [world.doctorA.email!, "empfang@a.example"])
        #expect(sms.sent.map(\.recipient) == ["+4917011111"])
        #expect(mail.sent.allSatisfy { $0.kind == 2002 && $0.audience == .staff })
        #expect(mail.sent.first?.message.calendar?.contains("SEQUENCE:1") == true)
    }

    @Test("a temporary failure is retried after the backoff, then given up as failed")
    func retries() throws {
        _ = try futureCall()
        mail.answer(.temporary("SMTP 451: try later"))
        #expect(try delivery.runOnce().retried == 1)
        #expect(try delivery.runOnce() == DeliveryService.RunSummary(), "not due before the backoff")
        world.clock.advance(10)
        mail.answer(.temporary("connection refused"))
        #expect(try delivery.runOnce().retried == 1)
        world.clock.advance(100)
        mail.answer(.temporary("connection refused"))
        #expect(try delivery.runOnce().failed == 1)
        let stored = try #require(try world.store.notifications(OutboxMessageQuery()).items.first)
        #expect(stored.status == .failed && stored.attempts == 3)
        #expect(stored.lastError?.contains("connection refused") == true)
        try world.store.requeueNotification(id: stored.id, now: world.clock.now)
        mail.answer(nil)
        #expect(try delivery.runOnce().sent == 1)
    }

    @Test("without a transport a message waits, with the reason, and no attempt is counted")
    func notConfigured() throws {
        let bare = DeliveryService(
            store: world.store, clock: world.clock.clock,
            settings: .init(planner: .init(baseURL: "https://v.example", senderAddress: "v@v.example")), mail: nil,
            sms: nil)
        _ = try futureCall()
        #expect(try bare.runOnce().waiting == 1)
        let stored = try #require(try world.store.notifications(OutboxMessageQuery()).items.first)
        #expect(stored.status == .pending && stored.attempts == 0)
        #expect(stored.lastError?.contains("no SMTP server configured") == true)
    }

    @Test("a refused patient address fails the invitation and tells staff who want 4001")
    func patientEmailInvalid() throws {
        try subscribe(world.doctorA, kinds: [.patientEmailInvalid])
        _ = try futureCall(email: "nobody@example.org")
        mail.answer(.permanent("SMTP 550: mailbox unavailable", addressRejected: true), nil)
        let run = try delivery.runOnce()
        #expect(run.failed == 1 && run.sent == 1)
        let notice = try #require(mail.sent.first)
        #expect(notice.kind == 4001 && notice.recipient == world.doctorA.email)
        #expect(notice.message.text.contains("nobody@example.org"))
    }

    @Test("an event is expanded once, also when asked twice")
    func expandOnce() throws {
        _ = try futureCall()
        let event = try #require(try world.store.pendingEvents(limit: 10).first)
        let item = NewOutboxMessage(
            callID: event.callID, companyID: event.companyID, kind: 2001, channel: .email, audience: .patient,
            recipient: "x@example.org", recipientUserID: nil, message: ComposedMessage(subject: "s", text: "t"))
        try world.store.expandEvent(id: event.id, into: [item], now: world.clock.now)
        try world.store.expandEvent(id: event.id, into: [item], now: world.clock.now)
        #expect(try world.store.notifications(OutboxMessageQuery()).total == 1)
    }

    @Test("admins see their company's notifications; doctors may not; others' are not found")
    func access() throws {
        _ = try futureCall()
        mail.answer(nil)
        try delivery.runOnce()
        let page = try delivery.list(as: world.principal(world.adminA), status: nil, callID: nil, page: .init())
        #expect(page.total == 1)
        #expect(
            try delivery.list(as: world.principal(world.adminB), status: nil, callID: nil, page: .init()).total == 0)
        let id = try #require(page.items.first?.id)
        expectDomainError(.notFound) { try delivery.notification(id, as: world.principal(world.adminB)) }
        expectDomainError(.forbidden) { try delivery.notification(id, as: world.principal(world.doctorA)) }
        expectDomainError(.conflict) { try delivery.retry(id, as: world.principal(world.adminA)) }
    }

    @Test("times in messages are in the practice's zone, across daylight saving")
    func timeZone() {
        let zone = TimeZone(identifier: "Europe/Berlin")!
        // 2026-03-29 01:30 UTC is 03:30 CEST (after the change); 2026-10-25 00:30 UTC is 02:30 CEST.
        #expect(NotificationPlanner.dates(1_774_747_800, zone).short == "29.03.2026 03:30")
        #expect(NotificationPlanner.dates(1_792_888_200, zone).short == "25.10.2026 02:30")
        #expect(NotificationPlanner.dates(1_792_891_800, zone).short == "25.10.2026 02:30", "the repeated hour")
    }
}
