import SBCrypto
import SBHTTP

/// The built-in console, the JavaScript client and the OpenAPI document, compiled into the
/// binary by SwiftPM from `Console/Files/` (`resources: [.embedInCode(…)]` in Package.swift).
/// Names and ETags come from content hashes, computed once (`warmUp` at startup).
enum ConsoleAssets {
    struct File {
        let contentType: String
        let etag: String
        /// Content-hashed name: cached for a year. Otherwise revalidated by ETag.
        let immutable: Bool
        let bytes: [UInt8]

        init(contentType: String, immutable: Bool, bytes: [UInt8]) {
            self.contentType = contentType
            self.etag = "\"" + String(SHA256.hex(bytes).prefix(20)) + "\""
            self.immutable = immutable
            self.bytes = bytes
        }
    }

    static let html = "text/html; charset=utf-8"
    static let css = "text/css; charset=utf-8"
    static let javaScript = "text/javascript; charset=utf-8"
    static let json = "application/json; charset=utf-8"

    /// URL path → file. The stylesheet and the console's script are served under
    /// `/console/<name>.<hash>.<ext>` (immutable); index.html names them through its
    /// `{{console.css}}` and `{{console.js}}` placeholders.
    static let files: [String: File] = {
        var files: [String: File] = [:]
        var index = String(decoding: PackageResources.index_html, as: UTF8.self)
        for (name, bytes, type) in [("console.css", PackageResources.console_css, css), ("console.js", PackageResources.console_js, javaScript)] {
            let dot = name.lastIndex(of: ".")!
            let path = "/console/\(name[..<dot]).\(SHA256.hex(bytes).prefix(12))\(name[dot...])"
            files[path] = File(contentType: type, immutable: true, bytes: bytes)
            index = index.replacing("{{\(name)}}", with: path)
        }
        files["/console"] = File(contentType: html, immutable: false, bytes: Array(index.utf8))
        files["/switchboard.js"] = File(contentType: javaScript, immutable: false, bytes: PackageResources.switchboard_js)
        files["/openapi.json"] = File(contentType: json, immutable: false, bytes: PackageResources.openapi_json)
        return files
    }()

    /// Hashes the files now (startup), not on the first request.
    static func warmUp() {
        _ = files.count
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
