import Foundation

/// Turns one outbox event into the messages it causes: the patients' invitations (e-mail with an
/// iCalendar entry, SMS) and the staff's notices according to their `notification_options`
/// (2001/2002/2003 enabled, sent over channel 1001 e-mail and/or 1002 SMS, to the account's own
/// address or number plus the channel's extra `value`s). Pure: everything it needs is passed in.
public struct NotificationPlanner: Sendable {
    public struct Settings: Sendable {
        /// Where the join links point, e.g. `https://video.praxis.example`.
        public var baseURL: String
        /// The sender's address, also the calendar entries' ORGANIZER.
        public var senderAddress: String
        /// Times in messages are given in this zone.
        public var timeZone: TimeZone
        /// Longest SMS, in parts.
        public var smsMaximumParts: Int

        public init(
            baseURL: String, senderAddress: String, timeZone: TimeZone = TimeZone(identifier: "Europe/Berlin")!,
            smsMaximumParts: Int = 3
        ) {
            self.baseURL = baseURL
            self.senderAddress = senderAddress
            self.timeZone = timeZone
            self.smsMaximumParts = smsMaximumParts
        }

        /// The host of `baseURL`: the domain of calendar UIDs and Message-IDs.
        public var messageDomain: String {
            let authority = baseURL.split(separator: "/").dropFirst().first.map(String.init) ?? "localhost"
            if authority.hasPrefix("[") { return String(authority.prefix { $0 != "]" }.dropFirst()) }
            return authority.split(separator: ":").first.map(String.init) ?? authority
        }
    }

    /// What is known about the event's call when it is expanded.
    public struct Context: Sendable {
        public var event: OutboxEvent
        /// The call as it is now; nil once deleted (then there is no join link to give).
        public var call: Call?
        /// The practice's name.
        public var companyName: String
        /// The current accounts of the event's staff participants (caller, callees).
        public var staff: [User]
        /// Earlier events of the same call: the calendar entry's SEQUENCE.
        public var sequence: Int
        public var now: Int64

        public init(
            event: OutboxEvent, call: Call?, companyName: String, staff: [User], sequence: Int, now: Int64
        ) {
            self.event = event
            self.call = call
            self.companyName = companyName
            self.staff = staff
            self.sequence = sequence
            self.now = now
        }
    }

    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    public func plan(_ context: Context) -> [NewOutboxMessage] {
        let event = context.event
        var result: [NewOutboxMessage] = []
        func add(
            _ channel: OutboxMessage.Channel, _ audience: OutboxMessage.Audience, to recipient: String, user: User.ID?,
            _ message: ComposedMessage
        ) {
            let recipient = recipient.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !recipient.isEmpty,
                !result.contains(where: { $0.channel == channel && $0.recipient.lowercased() == recipient.lowercased() }
                )
            else { return }
            result.append(
                NewOutboxMessage(
                    callID: event.callID, companyID: event.companyID, kind: event.kind.rawValue, channel: channel,
                    audience: audience, recipient: recipient, recipientUserID: user, message: message))
        }

        for patient in event.payload.participants where patient.role == ParticipantRole.tanuser.rawValue {
            let tan = context.call?.participant(patient.userID)?.tan
            if let email = patient.email {
                add(.email, .patient, to: email, user: patient.userID, patientEmail(context, patient, tan: tan))
            }
            if let mobile = patient.mobile {
                add(.sms, .patient, to: mobile, user: patient.userID, patientSMS(context, tan: tan))
            }
        }

        let optionKind = NotificationOption.Kind(rawValue: event.kind.rawValue)
        for user in context.staff {
            let options = NotificationOption.complete(user.notificationOptions)
            guard let optionKind, options.first(where: { $0.kind == optionKind })?.enabled == true else { continue }
            if let email = options.first(where: { $0.kind == .emailChannel }), email.enabled {
                let message = staffEmail(context, user)
                for address in [user.email].compactMap({ $0 }) + email.values {
                    add(.email, .staff, to: address, user: user.id, message)
                }
            }
            if let sms = options.first(where: { $0.kind == .smsChannel }), sms.enabled {
                let message = staffSMS(context)
                for number in [user.mobile].compactMap({ $0 }) + sms.values {
                    add(.sms, .staff, to: number, user: user.id, message)
                }
            }
        }
        return result
    }

    /// Notice 4001 to the staff of a call whose patient's address was refused.
    public func patientEmailInvalid(
        callID: Call.ID, companyID: Company.ID, begin: Int64, patientName: String, address: String, reason: String,
        staff: [User]
    ) -> [NewOutboxMessage] {
        let when = Self.dates(begin, settings.timeZone)
        let subject = "Patienten-E-Mail ungültig / Patient e-mail invalid: \(when.short)"
        let text = """
            Die Einladung an \(patientName) für die Videosprechstunde am \(when.german) konnte nicht zugestellt werden: \
            die Adresse \(address) wurde abgelehnt (\(reason)). Bitte prüfen Sie die Adresse.

            The invitation to \(patientName) for the video consultation on \(when.english) could not be delivered: \
            the address \(address) was rejected (\(reason)). Please check the address.
            """
        var result: [NewOutboxMessage] = []
        for user in staff {
            let options = NotificationOption.complete(user.notificationOptions)
            guard options.first(where: { $0.kind == .patientEmailInvalid })?.enabled == true,
                let channel = options.first(where: { $0.kind == .emailChannel }), channel.enabled
            else { continue }
            for recipient in [user.email].compactMap({ $0 }) + channel.values
            where !result.contains(where: { $0.recipient.lowercased() == recipient.lowercased() }) {
                result.append(
                    NewOutboxMessage(
                        callID: callID, companyID: companyID,
                        kind: NotificationOption.Kind.patientEmailInvalid.rawValue,
                        channel: .email, audience: .staff, recipient: recipient, recipientUserID: user.id,
                        message: ComposedMessage(subject: subject, text: text, html: Self.paragraphs(text))))
            }
        }
        return result
    }

    // MARK: messages

    func calendar(_ context: Context, attendee: String?, description: String, location: String?) -> ICalendar {
        let payload = context.event.payload
        return ICalendar(
            method: context.event.kind == .appointmentDeleted ? .cancel : .request,
            uid: "call-\(payload.callID)@\(settings.messageDomain)", sequence: context.sequence, start: payload.begin,
            end: payload.begin + Int64(payload.duration) * 60, stamp: context.now,
            summary: "Videosprechstunde / Video consultation – \(context.companyName)", description: description,
            location: location, organizer: settings.senderAddress, attendee: attendee)
    }

    func patientLink(_ callID: Call.ID, tan: String) -> String {
        "\(settings.baseURL)/video/login?tan=\(tan)"
    }

    func patientEmail(_ context: Context, _ patient: CallEventPayload.Participant, tan: String?) -> ComposedMessage {
        let payload = context.event.payload
        let when = Self.dates(payload.begin, settings.timeZone)
        let practice = context.companyName
        let link = tan.map { patientLink(payload.callID, tan: $0) }
        let subject: String
        var german: String
        var english: String
        switch context.event.kind {
        case .appointmentCreated:
            subject = "Ihr Video-Termin / Your video appointment: \(when.short)"
            german =
                "Guten Tag \(patient.name),\n\n\(practice) hat für Sie eine Videosprechstunde am \(when.german) (\(payload.duration) Minuten) vereinbart."
            english =
                "Hello \(patient.name),\n\n\(practice) has arranged a video consultation for you on \(when.english) (\(payload.duration) minutes)."
        case .appointmentChanged:
            subject = "Ihr Video-Termin wurde geändert / Your video appointment has changed: \(when.short)"
            german =
                "Guten Tag \(patient.name),\n\nIhre Videosprechstunde bei \(practice) wurde geändert. Neuer Termin: \(when.german) (\(payload.duration) Minuten)."
            english =
                "Hello \(patient.name),\n\nyour video consultation with \(practice) has changed. New time: \(when.english) (\(payload.duration) minutes)."
        case .appointmentDeleted:
            subject = "Ihr Video-Termin wurde abgesagt / Your video appointment was cancelled: \(when.short)"
            german =
                "Guten Tag \(patient.name),\n\nIhre Videosprechstunde bei \(practice) am \(when.german) wurde abgesagt."
            english =
                "Hello \(patient.name),\n\nyour video consultation with \(practice) on \(when.english) has been cancelled."
        }
        if context.event.kind != .appointmentDeleted, let link, let tan {
            german +=
                "\n\nZum Termin: \(link)\nIhr Zugangscode (TAN): \(tan)\n\nÖffnen Sie den Link kurz vor dem Termin in einem aktuellen Browser; Sie warten dann im Wartebereich, bis die Praxis Sie hereinlässt."
            english +=
                "\n\nJoin: \(link)\nYour access code (TAN): \(tan)\n\nOpen the link shortly before the appointment in an up-to-date browser; you will wait in the waiting area until the practice lets you in."
        }
        let text = german + "\n\n—\n\n" + english + "\n"
        let description =
            context.event.kind == .appointmentDeleted
            ? "Abgesagt / Cancelled"
            : [link.map { "Link: \($0)" }, tan.map { "TAN: \($0)" }].compactMap { $0 }
                .joined(separator: "\n")
        let entry = calendar(context, attendee: patient.email, description: description, location: link)
        return ComposedMessage(
            subject: subject, text: text, html: Self.paragraphs(text, link: link), calendar: entry.text,
            calendarMethod: entry.method.rawValue)
    }

    func patientSMS(_ context: Context, tan: String?) -> ComposedMessage {
        let payload = context.event.payload
        let when = Self.dates(payload.begin, settings.timeZone).short
        let practice = context.companyName
        let text: String
        switch context.event.kind {
        case .appointmentCreated, .appointmentChanged:
            let verb = context.event.kind == .appointmentCreated ? "Videotermin" : "Videotermin geändert"
            let link = tan.map { patientLink(payload.callID, tan: $0) } ?? ""
            text = "\(link) \(verb) \(when), \(practice). TAN: \(tan ?? "-")"
        case .appointmentDeleted:
            text = "Videotermin \(when) bei \(practice) abgesagt / appointment cancelled."
        }
        let limited = SMSText.limited(text, maximumParts: settings.smsMaximumParts)
        return ComposedMessage(subject: "", text: limited)
    }

    func staffEmail(_ context: Context, _ user: User) -> ComposedMessage {
        let payload = context.event.payload
        let when = Self.dates(payload.begin, settings.timeZone)
        let patients = payload.participants.filter { $0.role == ParticipantRole.tanuser.rawValue }.map(\.name)
        let who = patients.isEmpty ? "—" : patients.joined(separator: ", ")
        let (german, english): (String, String)
        switch context.event.kind {
        case .appointmentCreated:
            german = "Termin angelegt"
            english = "Appointment created"
        case .appointmentChanged:
            german = "Termin geändert"
            english = "Appointment changed"
        case .appointmentDeleted:
            german = "Termin abgesagt"
            english = "Appointment cancelled"
        }
        let link = "\(settings.baseURL)/video/\(payload.callID)"
        let subject = "\(german) / \(english): \(when.short)"
        var text = """
            \(german): Videosprechstunde am \(when.german), \(payload.duration) Minuten, mit \(who).
            \(english): video consultation on \(when.english), \(payload.duration) minutes, with \(who).
            """
        if context.event.kind != .appointmentDeleted { text += "\n\n\(link)" }
        text += "\n"
        let entry = calendar(
            context, attendee: user.email, description: "\(who)\n\(link)",
            location: context.event.kind == .appointmentDeleted ? nil : link)
        return ComposedMessage(
            subject: subject, text: text,
            html: Self.paragraphs(text, link: context.event.kind == .appointmentDeleted ? nil : link),
            calendar: entry.text, calendarMethod: entry.method.rawValue)
    }

    func staffSMS(_ context: Context) -> ComposedMessage {
        let payload = context.event.payload
        let when = Self.dates(payload.begin, settings.timeZone).short
        let what: String
        switch context.event.kind {
        case .appointmentCreated: what = "angelegt / created"
        case .appointmentChanged: what = "geändert / changed"
        case .appointmentDeleted: what = "abgesagt / cancelled"
        }
        let text = "Sprechstunde: Videotermin \(when) \(what) (\(payload.duration) min)."
        return ComposedMessage(subject: "", text: SMSText.limited(text, maximumParts: settings.smsMaximumParts))
    }

    // MARK: formatting

    /// The appointment time in German, English and short numeric form, in `zone`.
    static func dates(_ seconds: Int64, _ zone: TimeZone) -> (german: String, english: String, short: String) {
        let date = Date(timeIntervalSince1970: TimeInterval(seconds))
        func format(_ pattern: String, _ locale: String) -> String {
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: locale)
            formatter.timeZone = zone
            formatter.dateFormat = pattern
            return formatter.string(from: date)
        }
        return (
            format("EEEE, d. MMMM yyyy, HH:mm 'Uhr'", "de_DE"), format("EEEE d MMMM yyyy, HH:mm zzz", "en_GB"),
            format("dd.MM.yyyy HH:mm", "de_DE")
        )
    }

    /// Plain text as simple HTML: paragraphs, line breaks, the link clickable; everything escaped.
    static func paragraphs(_ text: String, link: String? = nil) -> String {
        func escape(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
                .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
        }
        var body = text.components(separatedBy: "\n\n").map { paragraph in
            "<p>" + escape(paragraph).replacingOccurrences(of: "\n", with: "<br>") + "</p>"
        }.joined(separator: "\n")
        if let link {
            let escaped = escape(link)
            body = body.replacingOccurrences(of: escaped, with: "<a href=\"\(escaped)\">\(escaped)</a>")
        }
        return """
            <!doctype html>
            <html><head><meta charset="utf-8"></head>
            <body style="font-family: sans-serif; line-height: 1.5; color: #1d2733;">
            \(body)
            </body></html>

            """
    }
}
