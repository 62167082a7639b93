import XCTest
@testable import SBHub

final class DeliveryLagTests: XCTestCase {
    func testBucketsAreUpperBoundsInclusive() {
        XCTAssertEqual(DeliveryLag.bucket(ofMicros: 0), 0)
        XCTAssertEqual(DeliveryLag.bucket(ofMicros: 1_000), 0, "le=0.001 holds 1 ms")
        XCTAssertEqual(DeliveryLag.bucket(ofMicros: 1_001), 1)
        XCTAssertEqual(DeliveryLag.bucket(ofMicros: 300_000_000), DeliveryLag.bucketMicros.count - 1)
        XCTAssertEqual(DeliveryLag.bucket(ofMicros: 300_000_001), DeliveryLag.bucketMicros.count, "+Inf")
    }

    func testObservationsAreWeightedPerLoopAndSummed() {
        let lag = DeliveryLag(loops: 2)
        lag.observe(loop: 0, .live, lagMicros: 3_000, count: 100)   // one event to 100 subscribers
        lag.observe(loop: 1, .live, lagMicros: 3_000, count: 50)    // its other loop
        lag.observe(loop: 1, .live, lagMicros: -40_000, count: 2)   // accepting host's clock ahead: 0
        lag.observe(loop: 0, .replay, lagsMicros: [2_000_000, 90_000_000_000])
        lag.observe(loop: 0, .live, lagMicros: 5, count: 0)         // nothing delivered: nothing counted
        let counts = lag.snapshot()
        XCTAssertEqual(counts.count(.live), 152)
        XCTAssertEqual(counts.buckets[DeliveryLag.Path.live.rawValue][0], 2)
        XCTAssertEqual(counts.buckets[DeliveryLag.Path.live.rawValue][2], 150, "3 ms: le=0.005")
        XCTAssertEqual(counts.sumMicros[DeliveryLag.Path.live.rawValue], 450_000)
        XCTAssertEqual(counts.count(.replay), 2)
        XCTAssertEqual(counts.buckets[DeliveryLag.Path.replay.rawValue].last, 1, "25 hours: +Inf")
    }

    func testQuantilesInterpolateLikePrometheus() {
        var counts = DeliveryLag.Counts()
        XCTAssertNil(counts.quantile(0.5, .live), "nothing counted")
        counts.buckets[0][0] = 50        // ≤ 1 ms
        counts.buckets[0][3] = 49        // 5–10 ms
        counts.buckets[0][9] = 1         // 0.5–1 s
        XCTAssertEqual(counts.quantile(0.5, .live)!, 0.001, accuracy: 1e-9, "the 50th of 100 is the top of the first bucket")
        XCTAssertEqual(counts.quantile(0.99, .live)!, 0.01, accuracy: 1e-9, "the 99th is the top of 5–10 ms")
        XCTAssertEqual(counts.quantile(1.0, .live)!, 1.0, accuracy: 1e-9)
        counts.buckets[1][DeliveryLag.bucketMicros.count] = 3
        XCTAssertEqual(counts.quantile(0.5, .replay), 300, "+Inf answers the last finite bound")
    }

    func testWindowIsNewestMinusOldestSample() {
        let stats = HubStats()
        let lag = DeliveryLag(loops: 1)
        lag.observe(loop: 0, .live, lagMicros: 200_000, count: 10)
        stats.sample(connections: 0, deliveryLag: lag.snapshot(), now: 1_000_000_000)
        lag.observe(loop: 0, .live, lagMicros: 2_000, count: 4)
        stats.sample(connections: 0, deliveryLag: lag.snapshot(), now: 3_000_000_000)
        let recent = stats.recentDeliveryLag
        XCTAssertEqual(recent.seconds, 2 * HubStats.intervalSeconds)
        XCTAssertEqual(recent.counts.count(.live), 14, "from start: also what came before the first sample")
        XCTAssertEqual(recent.counts.quantile(0.2, .live)!, 0.00205, accuracy: 1e-9, "rank 2.8: 2.8/4 into 1–2.5 ms")
        XCTAssertEqual(recent.counts.quantile(0.5, .live)!, 0.145, accuracy: 1e-9, "rank 7: 3/10 into 100–250 ms")
        for step in 0..<(HubStats.capacity + 10) {
            stats.sample(connections: 0, deliveryLag: lag.snapshot(), now: 5_000_000_000 + UInt64(step) * 2_000_000_000)
        }
        XCTAssertEqual(stats.recentDeliveryLag.seconds, HubStats.capacity * HubStats.intervalSeconds, "bounded: five minutes")
        XCTAssertEqual(stats.recentDeliveryLag.counts.count(.live), 0)
    }

    func testExpositionIsCumulativeWithExactBounds() {
        var counts = DeliveryLag.Counts()
        counts.buckets[0][0] = 2
        counts.buckets[0][2] = 3
        counts.sumMicros[0] = 12_500
        var out: [UInt8] = []
        DeliveryLag.render(counts, into: &out)
        let text = String(decoding: out, as: UTF8.self)
        XCTAssertTrue(text.contains("# TYPE switchboard_delivery_lag_seconds histogram\n"))
        XCTAssertTrue(text.contains("switchboard_delivery_lag_seconds_bucket{kind=\"live\",le=\"0.001\"} 2\n"))
        XCTAssertTrue(text.contains("switchboard_delivery_lag_seconds_bucket{kind=\"live\",le=\"0.0025\"} 2\n"))
        XCTAssertTrue(text.contains("switchboard_delivery_lag_seconds_bucket{kind=\"live\",le=\"0.005\"} 5\n"))
        XCTAssertTrue(text.contains("switchboard_delivery_lag_seconds_bucket{kind=\"live\",le=\"300\"} 5\n"))
        XCTAssertTrue(text.contains("switchboard_delivery_lag_seconds_bucket{kind=\"live\",le=\"+Inf\"} 5\n"))
        XCTAssertTrue(text.contains("switchboard_delivery_lag_seconds_sum{kind=\"live\"} 0.0125\n"))
        XCTAssertTrue(text.contains("switchboard_delivery_lag_seconds_count{kind=\"replay\"} 0\n"))
        XCTAssertEqual(DeliveryLag.formatSeconds(micros: 30_000_000), "30")
        XCTAssertEqual(DeliveryLag.formatSeconds(micros: 1_000_050), "1.00005")
    }
}
