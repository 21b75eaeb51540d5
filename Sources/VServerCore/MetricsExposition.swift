/// The text a scraper reads from `/metrics`: OpenMetrics 1.0 (https://prometheus.io/docs/specs/om/open_metrics_spec/)
/// when it asks for it, else Prometheus' text format 0.0.4, which every scraper reads.
package enum MetricsFormat: Sendable, Equatable {
    case openMetrics
    case prometheus

    /// OpenMetrics when `Accept` names it without `q=0`; Prometheus' text format otherwise (no header, `*/*`).
    package init(accept: String?) {
        let wantsOpenMetrics = (accept ?? "").split(separator: ",").contains { range in
            let parts = range.split(separator: ";").map { $0.filter { $0 != " " && $0 != "\t" }.lowercased() }
            guard parts.first == "application/openmetrics-text" else { return false }
            let quality = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) }
            return quality.map { $0 > 0 } ?? true
        }
        self = wantsOpenMetrics ? .openMetrics : .prometheus
    }

    package var contentType: String {
        switch self {
        case .openMetrics: "application/openmetrics-text; version=1.0.0; charset=utf-8"
        case .prometheus: "text/plain; version=0.0.4; charset=utf-8"
        }
    }
}

/// One metric family: its metadata and its samples, rendered in either format.
package struct MetricFamily: Sendable, Equatable {
    package enum Kind: String, Sendable {
        case gauge
        case counter
        /// Only `_sum` and `_count` here: no quantiles.
        case summary
        /// Labels that describe the thing, one sample of value 1 (OpenMetrics' info; a gauge for Prometheus 0.0.4).
        case info
    }

    package struct Sample: Sendable, Equatable {
        /// Appended to the family's name: `_total` of a counter, `_sum`/`_count` of a summary, `_info`.
        package var suffix: String
        package var labels: [Label]
        package var value: Double
    }

    package struct Label: Sendable, Equatable {
        package var name: String
        package var value: String

        package init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Without `_total` or `_info`; with the unit as its last word when there is one (`..._bytes`).
    package var name: String
    package var kind: Kind
    package var help: String
    /// `seconds`, `bytes`: OpenMetrics' `# UNIT`.
    package var unit: String?
    package var samples: [Sample] = []

    package init(_ name: String, _ kind: Kind, unit: String? = nil, help: String) {
        self.name = name
        self.kind = kind
        self.unit = unit
        self.help = help
    }

    /// Adds a sample; `suffix` nil means the kind's own (`_total` of a counter, `_info` of an info).
    package mutating func add(_ value: Double, _ labels: [Label] = [], suffix: String? = nil) {
        let suffix = suffix ?? (kind == .counter ? "_total" : kind == .info ? "_info" : "")
        samples.append(Sample(suffix: suffix, labels: labels, value: value))
    }

    package mutating func add(_ value: Int, _ labels: [Label] = [], suffix: String? = nil) {
        add(Double(value), labels, suffix: suffix)
    }
}

package enum MetricsExposition {
    /// The families in order, each with its metadata, then OpenMetrics' `# EOF`.
    package static func render(_ families: [MetricFamily], format: MetricsFormat) -> String {
        var text = ""
        for family in families {
            switch format {
            case .openMetrics:
                text += "# TYPE \(family.name) \(family.kind.rawValue)\n"
                if let unit = family.unit { text += "# UNIT \(family.name) \(unit)\n" }
                text += "# HELP \(family.name) \(escape(family.help, quotes: true))\n"
            case .prometheus:
                // 0.0.4 names a family by its samples' name and knows no info type.
                let name = family.name + (family.kind == .counter ? "_total" : family.kind == .info ? "_info" : "")
                text += "# HELP \(name) \(escape(family.help, quotes: false))\n"
                text += "# TYPE \(name) \(family.kind == .info ? "gauge" : family.kind.rawValue)\n"
            }
            for sample in family.samples {
                text += family.name + sample.suffix
                if !sample.labels.isEmpty {
                    let labels = sample.labels.map { "\($0.name)=\"\(escape($0.value, quotes: true))\"" }
                    text += "{" + labels.joined(separator: ",") + "}"
                }
                text += " \(number(sample.value))\n"
            }
        }
        if format == .openMetrics { text += "# EOF\n" }
        return text
    }

    /// Backslash, newline and (in label values, and OpenMetrics' HELP) double quote escaped, as both formats say.
    package static func escape(_ text: String, quotes: Bool) -> String {
        var escaped = ""
        for character in text.unicodeScalars {
            switch character {
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\"" where quotes: escaped += "\\\""
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// Whole numbers without a fraction (byte counts stay exact), others the shortest form that reads back the same.
    package static func number(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}
