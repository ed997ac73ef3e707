import Foundation

/// Inline SVG charts: axes with ticks and labels, linear or log10 value scales. Every bar is
/// one `<rect class="bar">`, every point one `<circle class="pt">`, every heat-map cell one
/// `<rect class="cell">`; the `<svg>` carries `data-chart` (what it shows) and the count of
/// its marks, which the tests check against the tables.
struct Bar {
    /// Shown under the bar when the chart labels its bars; nil otherwise.
    var label: String?
    var value: Double
    /// Hover text (an SVG `<title>`, no script needed).
    var tooltip: String
    /// Link target, relative to the page.
    var href: String?
}

enum BarAxis {
    /// Each bar labelled below (rotated).
    case labels
    /// Bars numbered 1…n with ticks at round ranks.
    case ranks
    /// Bars are bins of a numeric range [lo, hi]: ticks at round values.
    case range(lo: Double, hi: Double)
    /// Bars are named bins: the labels are shown, not rotated, every `every`-th one.
    case bins(every: Int)
}

struct BarChart {
    var id: String
    var title: String
    var bars: [Bar]
    var xLabel: String
    var yLabel: String
    var axis: BarAxis = .labels
    var logY = false
    var width = 860
    var plotHeight = 190

    func render(into out: inout HTMLBuffer) {
        let left = 64.0, right = 16.0, top = 12.0
        let rotated: Bool
        if case .labels = axis { rotated = true } else { rotated = false }
        let labelSpace = rotated ? 92.0 : 34.0
        let height = top + Double(plotHeight) + labelSpace + 18
        let plotWidth = Double(width) - left - right
        let bottom = top + Double(plotHeight)
        let scale = ValueScale(values: bars.map(\.value), log: logY, pixels: Double(plotHeight))

        ChartFrame.open(&out, id: id, title: title, width: width, height: Int(height.rounded(.up)), marks: bars.count)
        scale.drawYAxis(&out, left: left, top: top, bottom: bottom, right: Double(width) - right)
        let slot = bars.isEmpty ? plotWidth : plotWidth / Double(bars.count)
        let barWidth = max(slot * 0.8, 0.4)
        for (i, bar) in bars.enumerated() {
            let x = left + Double(i) * slot + (slot - barWidth) / 2
            let h = scale.pixels(bar.value)
            if let href = bar.href { out.raw("<a href=\""); out.attribute(href); out.raw("\">") }
            out.raw("<rect class=\"bar\" x=\""); out.fixed(x, 1)
            out.raw("\" y=\""); out.fixed(bottom - h, 1)
            out.raw("\" width=\""); out.fixed(barWidth, 2)
            out.raw("\" height=\""); out.fixed(h, 1)
            out.raw("\"><title>"); out.text(bar.tooltip); out.raw("</title></rect>")
            if bar.href != nil { out.raw("</a>") }
        }
        // X axis.
        out.raw("<line class=\"axis\" x1=\""); out.fixed(left, 1); out.raw("\" y1=\""); out.fixed(bottom, 1)
        out.raw("\" x2=\""); out.fixed(left + plotWidth, 1); out.raw("\" y2=\""); out.fixed(bottom, 1); out.raw("\"/>")
        switch axis {
        case .labels:
            for (i, bar) in bars.enumerated() {
                guard let label = bar.label else { continue }
                let x = left + (Double(i) + 0.5) * slot
                out.raw("<text class=\"xl\" transform=\"translate("); out.fixed(x + 3, 1); out.raw(","); out.fixed(bottom + 6, 1)
                out.raw(") rotate(-60)\" text-anchor=\"end\">"); out.text(label); out.raw("</text>")
            }
        case .ranks:
            for rank in Ticks.linear(max: Double(bars.count), count: 8) where rank >= 1 || bars.count < 2 {
                let r = max(rank, 1)
                let x = left + (r - 0.5) * slot
                ChartFrame.xTick(&out, x: x, bottom: bottom, label: Format.fixed(r, 0))
            }
        case .range(let lo, let hi):
            let span = hi - lo
            for value in Ticks.linear(max: span, count: 6) where span > 0 {
                let x = left + value / span * plotWidth
                ChartFrame.xTick(&out, x: x, bottom: bottom, label: Ticks.text(lo + value))
            }
        case .bins(let every):
            for (i, bar) in bars.enumerated() where i % max(every, 1) == 0 {
                ChartFrame.xTick(&out, x: left + (Double(i) + 0.5) * slot, bottom: bottom, label: bar.label ?? "")
            }
        }
        ChartFrame.axisLabels(&out, x: xLabel, y: yLabel + (logY ? " (log scale)" : ""), left: left, top: top, bottom: bottom,
                              width: Double(width), height: height)
        ChartFrame.close(&out)
    }
}

struct ScatterPoint {
    var x: Double
    var y: Double
    var tooltip: String
}

struct ScatterChart {
    var id: String
    var title: String
    var points: [ScatterPoint]
    var xLabel: String
    var yLabel: String
    var width = 420
    var plotHeight = 170

    func render(into out: inout HTMLBuffer) {
        let left = 64.0, right = 16.0, top = 12.0
        let height = top + Double(plotHeight) + 52
        let plotWidth = Double(width) - left - right
        let bottom = top + Double(plotHeight)
        let yScale = ValueScale(values: points.map(\.y), log: false, pixels: Double(plotHeight))
        let xMax = Ticks.niceCeiling(points.map(\.x).max() ?? 1)
        ChartFrame.open(&out, id: id, title: title, width: width, height: Int(height.rounded(.up)), marks: points.count)
        yScale.drawYAxis(&out, left: left, top: top, bottom: bottom, right: Double(width) - right)
        out.raw("<line class=\"axis\" x1=\""); out.fixed(left, 1); out.raw("\" y1=\""); out.fixed(bottom, 1)
        out.raw("\" x2=\""); out.fixed(left + plotWidth, 1); out.raw("\" y2=\""); out.fixed(bottom, 1); out.raw("\"/>")
        for value in Ticks.linear(max: xMax, count: 5) {
            ChartFrame.xTick(&out, x: left + value / xMax * plotWidth, bottom: bottom, label: Ticks.text(value))
        }
        for p in points {
            out.raw("<circle class=\"pt\" cx=\""); out.fixed(left + p.x / xMax * plotWidth, 1)
            out.raw("\" cy=\""); out.fixed(bottom - yScale.pixels(p.y), 1)
            out.raw("\" r=\"2.5\"><title>"); out.text(p.tooltip); out.raw("</title></circle>")
        }
        ChartFrame.axisLabels(&out, x: xLabel, y: yLabel, left: left, top: top, bottom: bottom, width: Double(width), height: height)
        ChartFrame.close(&out)
    }
}

/// Rows × columns of cells shaded by value in [0, 1].
struct HeatMap {
    var id: String
    var title: String
    var rowLabels: [String]
    var columnLabels: [String]
    var columnLinks: [String?]
    /// [rows][columns], each in [0, 1].
    var values: [[Double]]
    /// [rows][columns]
    var tooltips: [[String]]
    var xLabel: String
    var yLabel: String
    var cellWidth = 22.0

    func render(into out: inout HTMLBuffer) {
        let left = 150.0, top = 12.0
        let cellHeight = rowLabels.count > 60 ? 6.0 : 14.0
        let plotHeight = cellHeight * Double(rowLabels.count)
        let bottom = top + plotHeight
        let width = left + cellWidth * Double(columnLabels.count) + 24
        let height = bottom + 80 + 18
        ChartFrame.open(&out, id: id, title: title, width: Int(width.rounded(.up)), height: Int(height.rounded(.up)),
                        marks: rowLabels.count * columnLabels.count)
        for (r, row) in values.enumerated() {
            let y = top + Double(r) * cellHeight
            if rowLabels.count <= 60 || r % 10 == 0 {
                out.raw("<text class=\"yl\" x=\""); out.fixed(left - 4, 1); out.raw("\" y=\""); out.fixed(y + cellHeight - 2, 1)
                out.raw("\" text-anchor=\"end\">"); out.text(rowLabels[r]); out.raw("</text>")
            }
            for (c, v) in row.enumerated() {
                out.raw("<rect class=\"cell\" x=\""); out.fixed(left + Double(c) * cellWidth, 1)
                out.raw("\" y=\""); out.fixed(y, 1)
                out.raw("\" width=\""); out.fixed(cellWidth - 1, 1)
                out.raw("\" height=\""); out.fixed(max(cellHeight - 1, 1), 1)
                out.raw("\" fill-opacity=\""); out.fixed(v <= 0 ? 0.04 : 0.12 + 0.88 * min(v, 1), 2)
                out.raw("\"><title>"); out.text(tooltips[r][c]); out.raw("</title></rect>")
            }
        }
        for (c, label) in columnLabels.enumerated() {
            let x = left + (Double(c) + 0.5) * cellWidth
            if let href = columnLinks[c] { out.raw("<a href=\""); out.attribute(href); out.raw("\">") }
            out.raw("<text class=\"xl\" transform=\"translate("); out.fixed(x + 3, 1); out.raw(","); out.fixed(bottom + 6, 1)
            out.raw(") rotate(-60)\" text-anchor=\"end\">"); out.text(label); out.raw("</text>")
            if columnLinks[c] != nil { out.raw("</a>") }
        }
        out.raw("<text class=\"al\" x=\""); out.fixed(left + cellWidth * Double(columnLabels.count) / 2, 1)
        out.raw("\" y=\""); out.fixed(height - 4, 1); out.raw("\" text-anchor=\"middle\">"); out.text(xLabel); out.raw("</text>")
        out.raw("<text class=\"al\" transform=\"translate(12,"); out.fixed(top + plotHeight / 2, 1)
        out.raw(") rotate(-90)\" text-anchor=\"middle\">"); out.text(yLabel); out.raw("</text>")
        ChartFrame.close(&out)
    }
}

/// Maps values to pixel heights: linear from 0 to a round maximum, or log10 over whole decades.
struct ValueScale {
    let log: Bool
    let top: Double        // linear: value at the top; log: decade exponent at the top
    let bottomExponent: Double
    let pixels: Double

    init(values: [Double], log: Bool, pixels: Double) {
        self.log = log
        self.pixels = pixels
        let largest = values.max() ?? 0
        if log {
            let positive = values.filter { $0 > 0 }
            let smallest = positive.min() ?? 1
            bottomExponent = smallest.log10Floor
            top = max(largest.log10Ceiling, bottomExponent + 1)
        } else {
            bottomExponent = 0
            top = Ticks.niceCeiling(largest)
        }
    }

    func pixels(_ value: Double) -> Double {
        if log {
            let top = self.top
            guard value > 0 else { return 0 }
            let e = Foundation.log10(value)
            // The axis starts half a decade below the smallest tick, so the smallest value still shows as a bar.
            let floor = bottomExponent - 0.5
            return max(0, min(pixels, (e - floor) / (top - floor) * pixels))
        }
        return top > 0 ? max(0, min(pixels, value / top * pixels)) : 0
    }

    func drawYAxis(_ out: inout HTMLBuffer, left: Double, top plotTop: Double, bottom: Double, right: Double) {
        out.raw("<line class=\"axis\" x1=\""); out.fixed(left, 1); out.raw("\" y1=\""); out.fixed(plotTop, 1)
        out.raw("\" x2=\""); out.fixed(left, 1); out.raw("\" y2=\""); out.fixed(bottom, 1); out.raw("\"/>")
        let ticks: [Double]
        if log {
            ticks = stride(from: bottomExponent, through: top, by: 1).map { Foundation.pow(10, $0) }
        } else {
            ticks = Ticks.linear(max: top, count: 5)
        }
        for value in ticks {
            let y = bottom - pixels(value)
            out.raw("<line class=\"grid\" x1=\""); out.fixed(left, 1); out.raw("\" y1=\""); out.fixed(y, 1)
            out.raw("\" x2=\""); out.fixed(right, 1); out.raw("\" y2=\""); out.fixed(y, 1); out.raw("\"/>")
            out.raw("<text class=\"yl\" x=\""); out.fixed(left - 5, 1); out.raw("\" y=\""); out.fixed(y + 3.5, 1)
            out.raw("\" text-anchor=\"end\">"); out.text(Ticks.text(value)); out.raw("</text>")
        }
    }
}

enum ChartFrame {
    static func open(_ out: inout HTMLBuffer, id: String, title: String, width: Int, height: Int, marks: Int) {
        out.raw("<figure class=\"chart\"><figcaption>"); out.text(title); out.raw("</figcaption>")
        out.raw("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\""); out.int(width)
        out.raw("\" height=\""); out.int(height); out.raw("\" viewBox=\"0 0 "); out.int(width); out.raw(" "); out.int(height)
        out.raw("\" role=\"img\" data-chart=\""); out.attribute(id); out.raw("\" data-marks=\""); out.int(marks); out.raw("\">")
    }

    static func close(_ out: inout HTMLBuffer) {
        out.raw("</svg></figure>\n")
    }

    static func xTick(_ out: inout HTMLBuffer, x: Double, bottom: Double, label: String) {
        out.raw("<line class=\"axis\" x1=\""); out.fixed(x, 1); out.raw("\" y1=\""); out.fixed(bottom, 1)
        out.raw("\" x2=\""); out.fixed(x, 1); out.raw("\" y2=\""); out.fixed(bottom + 4, 1); out.raw("\"/>")
        out.raw("<text class=\"xt\" x=\""); out.fixed(x, 1); out.raw("\" y=\""); out.fixed(bottom + 15, 1)
        out.raw("\" text-anchor=\"middle\">"); out.text(label); out.raw("</text>")
    }

    static func axisLabels(_ out: inout HTMLBuffer, x: String, y: String, left: Double, top: Double, bottom: Double,
                           width: Double, height: Double) {
        out.raw("<text class=\"al\" x=\""); out.fixed((left + width) / 2, 1); out.raw("\" y=\""); out.fixed(height - 4, 1)
        out.raw("\" text-anchor=\"middle\">"); out.text(x); out.raw("</text>")
        out.raw("<text class=\"al\" transform=\"translate(13,"); out.fixed((top + bottom) / 2, 1)
        out.raw(") rotate(-90)\" text-anchor=\"middle\">"); out.text(y); out.raw("</text>")
    }
}

enum Ticks {
    /// The smallest 1, 2 or 5 × 10^n at or above `value` (1 for non-positive values).
    static func niceCeiling(_ value: Double) -> Double {
        guard value > 0, value.isFinite else { return 1 }
        let exponent = Foundation.floor(Foundation.log10(value))
        let base = Foundation.pow(10, exponent)
        for m in [1.0, 2, 2.5, 5, 10] where m * base >= value * (1 - 1e-12) { return m * base }
        return 10 * base
    }

    /// Round tick values from 0 to `max` (inclusive), about `count` of them.
    static func linear(max: Double, count: Int) -> [Double] {
        guard max > 0, max.isFinite else { return [0] }
        let step = niceCeiling(max / Double(count))
        var out: [Double] = []
        var v = 0.0
        while v <= max * (1 + 1e-9) {
            out.append(v)
            v += step
        }
        return out
    }

    static func text(_ value: Double) -> String {
        if value == 0 { return "0" }
        let magnitude = abs(value)
        if magnitude >= 1_000_000 || magnitude < 0.001 {
            let e = Int(Foundation.floor(Foundation.log10(magnitude)))
            let m = value / Foundation.pow(10, Double(e))
            return (abs(m - m.rounded()) < 1e-9 ? Format.fixed(m, 0) : Format.fixed(m, 1)) + "e" + String(e)
        }
        if magnitude >= 100 || abs(value - value.rounded()) < 1e-9 { return Format.fixed(value, 0) }
        if magnitude >= 10 { return Format.fixed(value, 1) }
        return trimmed(Format.fixed(value, 3))
    }

    private static func trimmed(_ s: String) -> String {
        guard s.contains(".") else { return s }
        var t = s
        while t.hasSuffix("0") { t.removeLast() }
        if t.hasSuffix(".") { t.removeLast() }
        return t
    }
}

extension Double {
    var log10Floor: Double { Foundation.floor(Foundation.log10(self)) }
    var log10Ceiling: Double { self > 0 ? Foundation.ceil(Foundation.log10(self) - 1e-12) : 0 }
}
