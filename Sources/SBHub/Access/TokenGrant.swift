import SBCore
import SBStore

/// What a token may do (issue 14): the `scope` claim names actions, the `sessions` claim the
/// sessions they apply to. The API key is `Access.full`.
enum Scope: String, CaseIterable, Sendable {
    case subscribe, read, publish, command, input
}

/// The verified claims of one token.
struct TokenGrant: Sendable, Equatable {
    let subject: String
    /// `exp`, in Unix milliseconds.
    let expiresAtMillis: Int64
    /// Session ids, or prefixes ending in `*` (`*` alone: every session).
    let sessions: [String]
    let scopes: Set<Scope>
    /// The `info` claim's bytes (a JSON object), when the token has one.
    var infoClaim: [UInt8]?

    init(subject: String, expiresAtMillis: Int64, sessions: [String], scopes: Set<Scope>, infoClaim: [UInt8]? = nil) {
        self.subject = subject
        self.expiresAtMillis = expiresAtMillis
        self.sessions = sessions
        self.scopes = scopes
        self.infoClaim = infoClaim
    }

    /// What presence shows of a client on this token: `{"sub":…}`, plus `"info":{…}` when the
    /// token carries that claim.
    var presenceInfo: [UInt8] {
        var out = Array("{\"sub\":".utf8)
        JSONString.append(subject, to: &out)
        if let infoClaim {
            out.append(contentsOf: ",\"info\":".utf8)
            out.append(contentsOf: infoClaim)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    func covers(_ sessionId: String) -> Bool {
        sessions.contains { pattern in
            pattern.hasSuffix("*") ? sessionId.hasPrefix(pattern.dropLast()) : pattern == sessionId
        }
    }

    func allows(_ scope: Scope, on sessionId: String) -> Bool {
        scopes.contains(scope) && covers(sessionId)
    }

    /// A pattern is an id (`Field.isValidSessionId`) or such an id's prefix followed by `*`.
    static func isValidPattern(_ pattern: String) -> Bool {
        guard pattern.hasSuffix("*") else { return Field.isValidSessionId(pattern) }
        let prefix = String(pattern.dropLast())
        return prefix.isEmpty || (prefix.utf8.count < 200 && Field.isValidSessionId(prefix))
    }
}

/// Who is asking: the key holder (or anyone, with auth off), or a token's grant.
enum Access: Sendable {
    case full
    indirect case token(TokenGrant)  // boxed: connections on the API key pay one word, not the grant

    func allows(_ scope: Scope, on sessionId: String) -> Bool {
        switch self {
        case .full: true
        case .token(let grant): grant.allows(scope, on: sessionId)
        }
    }

    /// nil when allowed; else the 403 that names the scope and the session.
    func check(_ scope: Scope, on sessionId: String) -> HubError? {
        allows(scope, on: sessionId) ? nil : .forbidden(Access.denial(scope, sessionId))
    }

    static func denial(_ scope: Scope, _ sessionId: String) -> String {
        "token does not grant '\(scope.rawValue)' on session '\(sessionId.prefix(200))'"
    }

    /// The `info` of this client's presence entries (`{}` on the API key).
    var presenceInfo: [UInt8] {
        switch self {
        case .full: PresenceEntry.noInfo
        case .token(let grant): grant.presenceInfo
        }
    }

    var isFull: Bool {
        if case .full = self { return true }
        return false
    }
}
