import Logging
import SBRedis
import SBServer
import SBTLS

/// SIGHUP with TLS on: reads TLS_CERT_FILE and TLS_KEY_FILE again. A good pair becomes the
/// context of new connections (open ones keep theirs, so nothing is dropped); a bad one is
/// logged and the previous pair stays. Runs on loop 0, where signals arrive: loading a PEM
/// pair takes about a millisecond.
final class TLSReloader: @unchecked Sendable {  // confined to loop 0
    private let server: Server
    private let logger: Logger
    private var current: TLSContext

    init(server: Server, current: TLSContext, logger: Logger) {
        self.server = server
        self.current = current
        self.logger = logger
    }

    func reload() {
        do {
            let context = try TLSContext(certificateFile: current.certificateFile, keyFile: current.keyFile)
            current = context
            server.replaceTLSContext(context)
            logger.info("SIGHUP: TLS certificate reloaded (\(Self.describe(context))); new connections use it, open ones keep theirs")
        } catch {
            server.tlsReloadFailed()
            logger.error("SIGHUP: TLS reload failed, keeping the previous certificate: \(error)")
        }
    }

    static func describe(_ context: TLSContext) -> String {
        let expiry = context.daysUntilExpiry.map { $0 < 0 ? "expired" : "expires in \($0) days" } ?? "expiry unknown"
        return "\(context.certificateFile), \(expiry)"
    }
}

/// SIGHUP with `rediss://`: reads REDIS_TLS_CA_FILE, REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE
/// again. A good set becomes the context of new Redis connections (open ones keep theirs); a bad
/// one is logged and the previous context stays. Loop 0, where signals arrive.
final class RedisTLSReloader: @unchecked Sendable {  // confined to loop 0
    private let settings: RedisTLSSettings
    private let logger: Logger

    init(settings: RedisTLSSettings, logger: Logger) {
        self.settings = settings
        self.logger = logger
    }

    func reload() {
        let old = settings.context
        do {
            let context = try TLSClientContext(caFile: old.caFile, certificateFile: old.certificateFile, keyFile: old.keyFile,
                                               variablePrefix: old.variablePrefix)
            settings.replace(context)
            logger.info("SIGHUP: Redis TLS files reloaded (\(context.summary)); new Redis connections use them, open ones keep theirs")
        } catch {
            logger.error("SIGHUP: Redis TLS reload failed, keeping the previous files: \(error)")
        }
    }
}
