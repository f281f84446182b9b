import HTTPServer
import Sprechstunde

/// The video pages (docs/video.md): the four entry URLs of the contract, the session API the
/// page uses, the signaling WebSocket, the client's static files and the embedding demo.
extension Application {
    func registerVideoRoutes(_ router: inout Router) {
        // Literal routes first: the router takes the first match, and `/video/{callId}` would
        // swallow `/video/login` and `/video/signal`.
        router.get("/video/login") { [self] request in
            videoPage(request) {
                guard let tan = request.query("tan") else { throw CallAccessService.Refusal.tanInvalid }
                _ = try callAccess.checkTAN(tan, callID: nil, from: clientAddress(request))
            }
        }
        router.get("/video/signal") { [self, signaling] request in
            try checkSignalingOrigin(request)
            return .webSocket(signaling)
        }
        router.get("/video/{callId}") { [self] request in
            videoPage(request) {
                let callID = try videoCallID(request)
                if let tan = request.query("tan") {
                    _ = try callAccess.checkTAN(tan, callID: callID, from: clientAddress(request))
                } else if let tid = request.query("tid") {
                    guard let token = CallAccessService.decodeTid(tid) else {
                        throw CallAccessService.Refusal.otpInvalid
                    }
                    _ = try callAccess.checkOneTimePassword(token, callID: callID, from: clientAddress(request))
                }
                // Without a secret the page asks for e-mail and password; whether the call
                // exists is told only to those who may enter it.
            }
        }
        router.get("/video/assets/{file}") { [self] request in
            guard let name = request.pathParameters["file"], let response = settings.webAssets.response(name) else {
                throw HTTPError(.notFound, "No such file.")
            }
            return response
        }
        router.get("/demo/embed") { [self] _ in
            guard let response = settings.webAssets.response("embed.html", headers: pageHeaders())
            else { throw HTTPError(.notFound, "The embedding demo is not part of this build.") }
            return response
        }

        router.post("/video/api/session") { [self] request in
            try withVideoCodes {
                var body = try RequestBody(request)
                let callID = body.int("call_id")
                let tan = body.string("tan")
                let tid = body.string("tid")
                let email = body.string("email")
                let password = body.string("password")
                try body.check()
                let credential: VideoEntryService.Credential
                if let tan {
                    credential = .tan(tan, callID: callID)
                } else if let tid, let callID {
                    guard let token = CallAccessService.decodeTid(tid) else {
                        throw CallAccessService.Refusal.otpInvalid
                    }
                    credential = .oneTimePassword(token, callID: callID)
                } else if let email, let password, let callID {
                    credential = .password(email: email, password: password, callID: callID)
                } else {
                    throw DomainError.invalid(
                        "tan",
                        "Send tan (with call_id to go straight in), or call_id with tid, or call_id with email and password."
                    )
                }
                let admission = try video.enter(credential, from: clientAddress(request))
                return .json(sessionJSON(admission), status: 201)
            }
        }
        router.get("/video/api/session") { [self] request in
            .json(sessionJSON(try video.session(token: request.bearerToken)))
        }
        router.post("/video/api/consent") { [self] request in
            var body = try RequestBody(request)
            let dataAgreed = body.bool("data_agreed") ?? false
            let descriptionsAgreed = body.bool("descriptions_agreed") ?? false
            try body.check()
            let admission = try video.recordConsent(
                token: request.bearerToken, dataAgreed: dataAgreed, descriptionsAgreed: descriptionsAgreed)
            return .json(sessionJSON(admission))
        }
    }

    func sessionJSON(_ admission: VideoEntryService.Admission) -> JSON {
        Wire.videoSession(admission, ice: video.ice, privacyURL: settings.privacyURL)
    }

    /// The client page when `check` passes; otherwise the error page with its 4xx status.
    func videoPage(_ request: Request, check: () throws -> Void) -> Response {
        do {
            try check()
        } catch let refusal as CallAccessService.Refusal {
            return EntryErrorPage.response(code: refusal.rawValue, headers: pageHeaders())
        } catch let error as DomainError where error.kind == .throttled {
            var response = EntryErrorPage.response(code: "throttled", headers: pageHeaders())
            response.headers.append(("Retry-After", String(error.retryAfter ?? 60)))
            return response
        } catch {
            return errorResponse(error, method: request.method, route: request.routeTemplate ?? "")
        }
        return settings.webAssets.response("call.html", headers: pageHeaders())
            ?? HTTPError(.serviceUnavailable, "The video client is not part of this build.").response
    }

    /// The session API answers every refusal with a `code` the page can show (docs/video.md);
    /// the entry refusals carry theirs already, the account ones get one here.
    func withVideoCodes<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as DomainError {
            var failure = Self.httpError(for: error)
            switch error.kind {
            case .unauthenticated: failure.code = "signin-failed"
            case .forbidden: failure.code = "not-a-participant"
            case .throttled: failure.code = "throttled"
            case .validation: failure.code = "invalid-request"
            default: break
            }
            throw failure
        }
    }

    func videoCallID(_ request: Request) throws -> Call.ID {
        do {
            return try pathID(request, "callId")
        } catch {
            throw CallAccessService.Refusal.badLink
        }
    }

    /// A strict policy: no inline script, nothing from other hosts; who may frame the pages is
    /// configured (the contract's default: anyone).
    func pageHeaders() -> [(String, String)] {
        let policy = [
            "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
            "media-src 'self' blob:", "connect-src 'self'", "object-src 'none'", "base-uri 'none'",
            "form-action 'self'", "frame-ancestors \(settings.frameAncestors)",
        ]
        return [
            ("Content-Security-Policy", policy.joined(separator: "; ")),
            (
                "Permissions-Policy",
                "camera=(self), microphone=(self), display-capture=(self), fullscreen=(self), autoplay=(self)"
            ),
        ]
    }
}

extension Application {
    /// Browsers open the signaling WebSocket only from the video pages, which this server
    /// serves: a page of another site has no business with it, even though it would also need
    /// a session token. Clients without an `Origin` header (no browser) are not affected.
    func checkSignalingOrigin(_ request: Request) throws {
        guard let origin = request.header("origin") else { return }
        if !Self.isOwnOrigin(origin, host: request.header("host"), tls: settings.tls, publicURL: settings.publicURL) {
            var error = HTTPError(
                .forbidden,
                "The signaling WebSocket may only be opened from this server's own video pages, not from \(origin). Behind a proxy that does not pass the Host header, set --public-url to the address browsers use."
            )
            error.code = "foreign-origin"
            throw error
        }
    }

    /// Whether `origin` is this server as the browser sees it: the request's `Host` with the
    /// scheme the server speaks (either, for a plain server that may sit behind a TLS proxy),
    /// or `publicURL`.
    static func isOwnOrigin(_ origin: String, host: String?, tls: Bool, publicURL: String?) -> Bool {
        guard let seen = normalizedOrigin(origin) else { return false }
        if let publicURL, normalizedOrigin(publicURL) == seen { return true }
        guard let host else { return false }
        return (tls ? ["https"] : ["http", "https"]).contains { normalizedOrigin("\($0)://\(host)") == seen }
    }

    /// `https://video.example:8443` in lower case, without the scheme's default port; nil for
    /// anything but an http or https origin without user information or path.
    static func normalizedOrigin(_ text: String) -> String? {
        let lowered = text.lowercased()
        for (scheme, port) in [("https", ":443"), ("http", ":80")] where lowered.hasPrefix(scheme + "://") {
            var authority = lowered.dropFirst(scheme.count + 3)
            if authority.hasSuffix("/") { authority = authority.dropLast() }
            guard !authority.isEmpty, !authority.contains(where: { "/@?#\\ ".contains($0) }) else { return nil }
            if authority.hasSuffix(port) { authority = authority.dropLast(port.count) }
            return "\(scheme)://\(authority)"
        }
        return nil
    }
}
