import HTTPServer
import Sprechstunde

/// The page shown instead of the call when a link does not (or no longer) lead into one: both
/// languages at once (the server cannot know the reader's), a 4xx status, and the contract's
/// `error` event for an embedding page, sent by `error.js` from the `data-` attributes.
enum EntryErrorPage {
    struct Text {
        let status: Int
        let german: (title: String, detail: String)
        let english: (title: String, detail: String)
    }

    static func text(for code: String) -> Text {
        switch code {
        case CallAccessService.Refusal.tanInvalid.rawValue:
            return Text(
                status: 404,
                german: (
                    "Dieser Zugangscode ist ungültig",
                    "Bitte prüfen Sie den Link oder bitten Sie die Praxis um einen neuen."
                ),
                english: ("This access code is not valid", "Please check the link or ask the practice for a new one."))
        case CallAccessService.Refusal.tanExpired.rawValue:
            return Text(
                status: 410,
                german: (
                    "Dieser Zugangscode ist abgelaufen", "Bitte fordern Sie bei der Praxis einen neuen Termin-Link an."
                ),
                english: ("This access code has expired", "Please ask the practice for a new appointment link."))
        case CallAccessService.Refusal.otpInvalid.rawValue:
            return Text(
                status: 404,
                german: (
                    "Dieser Anmelde-Link ist ungültig oder wurde bereits benutzt",
                    "Einmal-Links sind nur einmal und nur kurze Zeit gültig. Öffnen Sie den Termin erneut aus Ihrem Praxissystem."
                ),
                english: (
                    "This sign-in link is invalid or has been used already",
                    "One-time links can be used only once and expire quickly. Open the appointment again from your practice system."
                ))
        case CallAccessService.Refusal.callDeleted.rawValue:
            return Text(
                status: 410,
                german: ("Dieser Termin wurde abgesagt", "Die Videosprechstunde existiert nicht mehr."),
                english: ("This appointment was cancelled", "The video consultation no longer exists."))
        case CallAccessService.Refusal.badLink.rawValue:
            return Text(
                status: 404,
                german: ("Dieser Link ist unvollständig oder falsch", "Bitte prüfen Sie, ob er ganz kopiert wurde."),
                english: ("This link is incomplete or wrong", "Please check that it was copied completely."))
        case CallAccessService.Refusal.callEnded.rawValue:
            return Text(
                status: 410,
                german: ("Diese Videosprechstunde ist beendet", "Der Link kann nicht mehr verwendet werden."),
                english: ("This video consultation has ended", "The link can no longer be used."))
        default:
            return Text(
                status: 429,
                german: ("Zu viele Versuche", "Bitte warten Sie einige Minuten und versuchen Sie es dann erneut."),
                english: ("Too many attempts", "Please wait a few minutes and then try again."))
        }
    }

    static func response(code: String, headers: [(String, String)]) -> Response {
        let text = text(for: code)
        let html = """
            <!doctype html>
            <html lang="de">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(text.german.title)) / \(escape(text.english.title))</title>
            <link rel="icon" href="/video/assets/favicon.svg" type="image/svg+xml">
            <link rel="stylesheet" href="/video/assets/call.css">
            <script type="module" src="/video/assets/error.js"></script>
            </head>
            <body class="entry-error" data-code="\(escape(code))" data-message="\(escape(text.english.title))">
            <main>
            <section lang="de"><h1>\(escape(text.german.title))</h1><p>\(escape(text.german.detail))</p></section>
            <section lang="en"><h1>\(escape(text.english.title))</h1><p>\(escape(text.english.detail))</p></section>
            <p class="error-code"><span class="error-code-label"><span lang="de">Fehlercode</span> / <span lang="en">Error code</span></span>: <code>\(escape(code))</code></p>
            </main>
            </body>
            </html>

            """
        return Response(
            status: text.status, headers: [("Content-Type", "text/html; charset=utf-8")] + headers,
            body: Array(html.utf8))
    }

    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
