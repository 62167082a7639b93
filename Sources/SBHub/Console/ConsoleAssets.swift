import SBHTTP

/// The built-in console, the JavaScript client and the OpenAPI document, embedded in the
/// binary (`ConsoleFiles.swift` and `Embedded/`, generated from `Console/` by Scripts/embed-console.py).
enum ConsoleAssets {
    struct File {
        let contentType: String
        let etag: String
        /// Content-hashed name: cached for a year. Otherwise revalidated by ETag.
        let immutable: Bool
        let bytes: [UInt8]

        init(contentType: String, etag: String, immutable: Bool, text: String) {
            self.contentType = contentType
            self.etag = etag
            self.immutable = immutable
            self.bytes = Array(text.utf8)
        }
    }

    /// Scripts and styles only from this origin, no inline code, no plugins, no framing; the
    /// page may talk to this origin only (REST, WebSocket).
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

    static func file(at path: String) -> File? {
        switch path {
        case "/", "/console", "/console/": files["/console"]
        default: files[path]
        }
    }

    static func isAssetPath(_ path: String) -> Bool {
        file(at: path) != nil
    }

    static func response(path: String, request: HTTPRequestHead) -> HTTPResponse {
        guard let file = file(at: path) else {
            return Reply.error(.notFound("no route for GET \(path)"))
        }
        var headers: [(String, String)] = [
            ("ETag", file.etag),
            ("Cache-Control", file.immutable ? "public, max-age=31536000, immutable" : "no-cache"),
            ("X-Content-Type-Options", "nosniff"),
            ("Content-Security-Policy", contentSecurityPolicy),
            ("Referrer-Policy", "no-referrer"),
            ("X-Frame-Options", "DENY"),
        ]
        if let tags = request.headers["if-none-match"],
           tags.split(separator: ",").contains(where: { $0.trimmingCharacters(in: " \t") == file.etag || $0.trimmingCharacters(in: " \t") == "*" }) {
            return HTTPResponse(status: 304, headers: headers)
        }
        headers.insert(("Content-Type", file.contentType), at: 0)
        return HTTPResponse(status: 200, headers: headers, body: file.bytes)
    }
}

private extension Substring {
    func trimmingCharacters(in set: String) -> Substring {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return text
    }
}
