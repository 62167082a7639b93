/// The Prometheus text exposition of the histograms the hub counts itself (`DeliveryLag`,
/// `RequestDurations`): one writer for their series and their decimal seconds.
enum HistogramText {
    /// One labelled series: cumulative `_bucket` lines (`boundLabels`, then +Inf), `_sum` and
    /// `_count`. `counts` are per bucket, not cumulative; the last one is +Inf.
    static func appendSeries(_ name: String, label: String, counts: some Sequence<Int>, boundLabels: [String], sum: String,
                             into out: inout [UInt8]) {
        var cumulative = 0
        for (index, count) in counts.enumerated() {
            cumulative += count
            let bound = index < boundLabels.count ? boundLabels[index] : "+Inf"
            out.append(contentsOf: "\(name)_bucket{\(label),le=\"\(bound)\"} \(cumulative)\n".utf8)
        }
        out.append(contentsOf: "\(name)_sum{\(label)} \(sum)\n".utf8)
        out.append(contentsOf: "\(name)_count{\(label)} \(cumulative)\n".utf8)
    }

    /// `value` units of 10^-`fractionDigits` s as decimal seconds, without floating-point noise
    /// ("0.0025", "30", "0.000121933").
    static func decimalSeconds(_ value: Int64, fractionDigits: Int) -> String {
        var scale: Int64 = 1
        for _ in 0..<fractionDigits { scale *= 10 }
        let whole = value / scale
        var fraction = value % scale
        guard fraction != 0 else { return String(whole) }
        var digits = fractionDigits
        while fraction % 10 == 0 { fraction /= 10; digits -= 1 }
        let text = String(fraction)
        return "\(whole)." + String(repeating: "0", count: digits - text.count) + text
    }
}
