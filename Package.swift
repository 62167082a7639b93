// swift-tools-version:6.1
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// The delivery and request paths call mutating state machines held by classes once per frame;
/// in release builds their dynamic exclusivity checks (`swift_beginAccess`) are skipped.
/// Debug builds — every test run, TSan and ASan included — keep the checks.
let hotPath: [SwiftSetting] = strict + [.unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release))]

let package = Package(
    name: "switchboard",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "switchboard", targets: ["switchboard"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-collections", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Layer 0: C shims and system libraries. Each is imported by one Swift module; OpenSSL by
        // two with separate rooms: SBCrypto (hashes, signatures) and SBTLS (sessions on sockets);
        // zlib by SBCompression.
        .target(name: "CSBLinux", cSettings: [.define("_GNU_SOURCE")]),
        .systemLibrary(name: "CHiredis", pkgConfig: "hiredis", providers: [.apt(["libhiredis-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),

        // Layer 1: shared primitives.
        .target(name: "SBCore", dependencies: [
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        // Layer 2: event loop (only owner of CSBLinux), HTTP codec, crypto (only owner of COpenSSL),
        // raw DEFLATE streams (only owner of CZlib).
        .target(name: "SBEventLoop", dependencies: [
            "CSBLinux", "SBCore",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "HeapModule", package: "swift-collections"),
        ], swiftSettings: hotPath),
        .target(name: "SBHTTP", dependencies: ["SBCore"], swiftSettings: hotPath),
        .target(name: "SBCrypto", dependencies: ["COpenSSL", "SBCore"], swiftSettings: strict),
        .target(name: "SBCompression", dependencies: ["CZlib"], swiftSettings: strict),

        // Layer 3: WebSocket codec (with permessage-deflate), Redis client (only owner of
        // CHiredis), TLS sessions on the loop's sockets.
        .target(name: "SBWebSocket", dependencies: ["SBCore", "SBHTTP", "SBCrypto", "SBCompression"], swiftSettings: strict),
        .target(name: "SBTLS", dependencies: ["COpenSSL", "SBEventLoop"], swiftSettings: strict),
        .target(name: "SBRedis", dependencies: [
            "CHiredis", "SBCore", "SBEventLoop", "SBTLS",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        // Layer 4: sockets glued to the codecs; the storage contract.
        .target(name: "SBServer", dependencies: [
            "SBCore", "SBEventLoop", "SBHTTP", "SBWebSocket", "SBTLS",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: hotPath),
        .target(name: "SBStore", dependencies: [
            "SBCore", "SBRedis", "SBEventLoop",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),

        // Layer 5: the product: routes, realtime fan-out, policies.
        .target(name: "SBHub", dependencies: [
            "SBCore", "SBEventLoop", "SBHTTP", "SBWebSocket", "SBServer", "SBStore", "SBCrypto",
            .product(name: "DequeModule", package: "swift-collections"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], resources: [
            // The console, the JavaScript client and the OpenAPI document, compiled into the
            // binary as byte arrays (PackageResources.<name>): the files are the only copy.
            .embedInCode("Console/Files/index.html"),
            .embedInCode("Console/Files/console.css"),
            .embedInCode("Console/Files/console.js"),
            .embedInCode("Console/Files/switchboard.js"),
            .embedInCode("Console/Files/openapi.json"),
        ], swiftSettings: hotPath),

        // Layer 6: the executable.
        .executableTarget(name: "switchboard", dependencies: [
            "SBCore", "SBEventLoop", "SBHTTP", "SBServer", "SBHub", "SBStore", "SBRedis", "SBTLS", "SBCrypto",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: strict),

        // Tests.
        .target(name: "SBTestSupport", dependencies: ["SBCore"],
                path: "Tests/SBTestSupport", swiftSettings: strict),
        .testTarget(name: "SBCoreTests", dependencies: ["SBCore", "SBTestSupport"], swiftSettings: strict),
        .testTarget(name: "SBHTTPTests", dependencies: ["SBHTTP", "SBTestSupport"], swiftSettings: strict),
        // The JSON scanner (and Foundation beside it) as a stdin/stdout filter for the
        // differential test against Python's json.
        .executableTarget(name: "sb-json-scan", dependencies: ["SBCore", "SBTestSupport"], path: "Tests/JSONScanHarness", swiftSettings: strict),
        // The HTTP parser as a stdin/stdout filter for the differential test against h11.
        .executableTarget(name: "sb-http-parse", dependencies: ["SBHTTP"], path: "Tests/HTTPParseHarness", swiftSettings: strict),
        .testTarget(name: "SBCryptoTests", dependencies: ["SBCrypto"], swiftSettings: strict),
        .testTarget(name: "SBWebSocketTests", dependencies: ["SBWebSocket", "SBCompression", "SBCore", "SBTestSupport"], swiftSettings: strict),
        .testTarget(name: "SBCompressionTests", dependencies: ["SBCompression"], swiftSettings: strict),
        .testTarget(name: "SBEventLoopTests", dependencies: ["SBEventLoop", "SBCore"], swiftSettings: strict),
        .testTarget(name: "SBTLSTests", dependencies: ["SBTLS", "SBEventLoop"], swiftSettings: strict),
        .testTarget(name: "SBRedisTests", dependencies: [
            "SBRedis", "SBTLS", "SBEventLoop", "SBCore", "SBTestSupport", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .testTarget(name: "SBStoreTests", dependencies: [
            "SBStore", "SBRedis", "SBEventLoop", "SBCore", "SBTestSupport", .product(name: "Logging", package: "swift-log"),
        ], swiftSettings: strict),
        .testTarget(name: "SBHubTests", dependencies: ["SBHub", "SBStore", "SBHTTP", "SBServer", "SBWebSocket", "SBCore", "SBCrypto", "SBTestSupport"], swiftSettings: strict),
        .testTarget(name: "SBServerTests", dependencies: ["SBServer", "SBCore"], swiftSettings: strict),
    ]
)
