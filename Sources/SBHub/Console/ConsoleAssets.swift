import SBHTTP

enum ConsoleAssets {
    static func isAssetPath(_ path: String) -> Bool { false }
    static func response(path: String, request: HTTPRequestHead) -> HTTPResponse { HTTPResponse(status: 404) }
}
