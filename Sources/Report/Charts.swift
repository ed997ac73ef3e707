import Foundation

/// Inline SVG charts: axes with ticks and labels, linear or log10 value scales. Bars are
/// vertical strokes drawn as subpaths (`M x y0 V y1`) of the paths in `<g class="bar">`, points
/// zero-length round-capped subpaths (`M x y h0`) of the paths in `<g class="pt">`: one path per
/// tooltip, so a chart of hundreds of marks stays a few kilobytes. Every heat-map cell is one
/// `<rect class="cell">`. The `<svg>` carries `data-chart` (what it shows) and the count of its
/// marks (`data-marks`), which the tests check against the subpaths and the tables.
struct Bar {
    /// Shown under the bar when the chart labels its bars; nil otherwise.
    var label: String?
    var value: Double
    /// Hover text (an SVG `<title>`, no script needed); ignored when the chart groups its bars.
    var tooltip: String
    /// Link target, relative to the page; ignored when the chart groups its bars.
    var href: String?
}

/// Marks drawn by group: each group is one path with one tooltip (e.g. all bars of one
/// feature), so a chart of hundreds of marks needs only as many elements as groups.
struct MarkGroups {
    /// Mark indices, group after group, each group in drawing order.
    var order: [Int]
    /// Where each group starts in `order`; a group ends where the next one starts.
    var starts: [Int]
    /// Writes group `g`'s tooltip text into the page (escaping what comes from the bundle).
    var tooltip: (_ g: Int, _ out: inout HTMLBuffer) -> Void

    var count: Int { starts.count }

    func members(_ g: Int) -> ArraySlice<Int> {
        order[starts[g]..<(g + 1 < starts.count ? starts[g + 1] : order.count)]
    }

    /// One group per mark, in order: per-mark tooltips written straight into the page.
    static func single(_ n: Int, tooltip: @escaping (_ i: Int, _ out: inout HTMLBuffer) -> Void) -> MarkGroups {
        MarkGroups(order: Array(0..<n), starts: Array(0..<n), tooltip: tooltip)
    }

    /// Groups the marks `0..<n` by `key`, groups in the order of their first mark.
    static func byFirstAppearance(_ n: Int, key: (Int) -> Int, tooltip: @escaping (_ g: Int, _ first: Int, _ size: Int, _ out: inout HTMLBuffer) -> Void) -> MarkGroups {
        var groupOf: [Int: Int] = [:]
        groupOf.reserveCapacity(n)
        var group = [Int](repeating: 0, count: n)
        var sizes: [Int] = []
        var firsts: [Int] = []
        for i in 0..<n {
            let k = key(i)
            if let g = groupOf[k] { group[i] = g; sizes[g] += 1; continue }
            groupOf[k] = sizes.count
            group[i] = sizes.count
            sizes.append(1)
            firsts.append(i)
        }
        var starts = [Int](repeating: 0, count: sizes.count)
        var next = 0
        for g in sizes.indices { starts[g] = next; next += sizes[g] }
        var fill = starts
        var order = [Int](repeating: 0, count: n)
        for i in 0..<n { order[fill[group[i]]] = i; fill[group[i]] += 1 }
        return MarkGroups(order: order, starts: starts) { g, out in tooltip(g, firsts[g], sizes[g], &out) }
    }
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
    /// When set, bars are drawn by group (each group one path with one tooltip, no link);
    /// otherwise every bar is its own path with its own tooltip and link.
    var groups: MarkGroups? = nil

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
        out.raw("<g class=\"bar\" stroke-width=\""); out.fixed(barWidth, 2); out.raw("\">")
        func drawBars(_ members: some Sequence<Int>) {
            out.raw("<path d=\"")
            for i in members {
                out.raw("M"); out.coord(left + (Double(i) + 0.5) * slot)
                out.raw(" "); out.coord(bottom)
                out.raw("V"); out.coord(bottom - scale.pixels(bars[i].value))
            }
            out.raw("\">")
        }
        if let groups {
            for g in 0..<groups.count {
                drawBars(groups.members(g))
                out.raw("<title>"); groups.tooltip(g, &out); out.raw("</title></path>")
            }
        } else {
            for (i, bar) in bars.enumerated() {
                if let href = bar.href { out.raw("<a href=\""); out.attribute(href); out.raw("\">") }
                drawBars(CollectionOfOne(i))
                out.raw("<title>"); out.text(bar.tooltip); out.raw("</title></path>")
                if bar.href != nil { out.raw("</a>") }
            }
        }
        out.raw("</g>")
        // X axis.
        ChartFrame.xAxis(&out, left: left, right: left + plotWidth, bottom: bottom)
        switch axis {
        case .labels:
            out.raw("<g class=\"xl\">")
            for (i, bar) in bars.enumerated() {
                guard let label = bar.label else { continue }
                ChartFrame.rotatedLabel(&out, x: left + (Double(i) + 0.5) * slot + 3, y: bottom + 6, label: label)
            }
            out.raw("</g>")
        case .ranks:
            var ticks: [(Double, String)] = []
            for rank in Ticks.linear(max: Double(bars.count), count: 8) where rank >= 1 || bars.count < 2 {
                let r = max(rank, 1)
                ticks.append((left + (r - 0.5) * slot, Format.fixed(r, 0)))
            }
            ChartFrame.xTicks(&out, ticks, bottom: bottom)
        case .range(let lo, let hi):
            let span = hi - lo
            var ticks: [(Double, String)] = []
            for value in Ticks.linear(max: span, count: 6) where span > 0 {
                ticks.append((left + value / span * plotWidth, Ticks.text(lo + value)))
            }
            ChartFrame.xTicks(&out, ticks, bottom: bottom)
        case .bins(let every):
            var ticks: [(Double, String)] = []
            for (i, bar) in bars.enumerated() where i % max(every, 1) == 0 {
                ticks.append((left + (Double(i) + 0.5) * slot, bar.label ?? ""))
            }
            ChartFrame.xTicks(&out, ticks, bottom: bottom)
        }
        ChartFrame.axisLabels(&out, x: xLabel, y: yLabel + (logY ? " (log scale)" : ""), left: left, top: top, bottom: bottom,
                              width: Double(width), height: height)
        ChartFrame.close(&out)
    }
}

struct ScatterPoint {
    var x: Double
    var y: Double
    /// Hover text; ignored when the chart groups its points.
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
    /// When set, points are drawn by group (one path and tooltip each); otherwise one path per point.
    var groups: MarkGroups? = nil

    func render(into out: inout HTMLBuffer) {
        let left = 64.0, right = 16.0, top = 12.0
        let height = top + Double(plotHeight) + 52
        let plotWidth = Double(width) - left - right
        let bottom = top + Double(plotHeight)
        let yScale = ValueScale(values: points.map(\.y), log: false, pixels: Double(plotHeight))
        let xMax = Ticks.niceCeiling(points.map(\.x).max() ?? 1)
        ChartFrame.open(&out, id: id, title: title, width: width, height: Int(height.rounded(.up)), marks: points.count)
        yScale.drawYAxis(&out, left: left, top: top, bottom: bottom, right: Double(width) - right)
        ChartFrame.xAxis(&out, left: left, right: left + plotWidth, bottom: bottom)
        ChartFrame.xTicks(&out, Ticks.linear(max: xMax, count: 5).map { (left + $0 / xMax * plotWidth, Ticks.text($0)) }, bottom: bottom)
        func drawPoints(_ members: some Sequence<Int>) {
            out.raw("<path d=\"")
            for i in members {
                out.raw("M"); out.coord(left + points[i].x / xMax * plotWidth)
                out.raw(" "); out.coord(bottom - yScale.pixels(points[i].y)); out.raw("h0")
            }
            out.raw("\"><title>")
        }
        out.raw("<g class=\"pt\">")
        if let groups {
            for g in 0..<groups.count {
                drawPoints(groups.members(g)); groups.tooltip(g, &out); out.raw("</title></path>")
            }
        } else {
            for (i, p) in points.enumerated() {
                drawPoints(CollectionOfOne(i)); out.text(p.tooltip); out.raw("</title></path>")
            }
        }
        out.raw("</g>")
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
                out.raw("<g class=\"yl\">"); ChartFrame.text(&out, x: left - 4, y: y + cellHeight - 2, rowLabels[r]); out.raw("</g>")
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
        out.raw("<g class=\"xl\">")
        for (c, label) in columnLabels.enumerated() {
            let x = left + (Double(c) + 0.5) * cellWidth
            if let href = columnLinks[c] { out.raw("<a href=\""); out.attribute(href); out.raw("\">") }
            ChartFrame.rotatedLabel(&out, x: x + 3, y: bottom + 6, label: label)
            if columnLinks[c] != nil { out.raw("</a>") }
        }
        out.raw("</g>")
        ChartFrame.axisLabels(&out, x: xLabel, y: yLabel, xCenter: left + cellWidth * Double(columnLabels.count) / 2,
                              yCenter: top + plotHeight / 2, height: height)
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
        out.raw("<path class=\"axis\" d=\"M"); out.coord(left); out.raw(" "); out.coord(plotTop)
        out.raw("V"); out.coord(bottom); out.raw("\"/>")
        let ticks: [Double]
        if log {
            ticks = stride(from: bottomExponent, through: top, by: 1).map { Foundation.pow(10, $0) }
        } else {
            ticks = Ticks.linear(max: top, count: 5)
        }
        out.raw("<path class=\"grid\" d=\"")
        for value in ticks {
            out.raw("M"); out.coord(left); out.raw(" "); out.coord(bottom - pixels(value)); out.raw("H"); out.coord(right)
        }
        out.raw("\"/>")
        out.raw("<g class=\"yl\">")
        for value in ticks {
            ChartFrame.text(&out, x: left - 5, y: bottom - pixels(value) + 3.5, Ticks.text(value))
        }
        out.raw("</g>")
    }
}

/// The parts every chart shares. Texts and marks take their anchor and colour from the class
/// of an enclosing `<g>` (yl and xl: end; xt and al: middle; bar, pt), not from attributes
/// of their own.
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

    /// A text at (x, y); its class (anchor, colour) comes from the enclosing `<g>`.
    static func text(_ out: inout HTMLBuffer, x: Double, y: Double, _ label: String) {
        out.raw("<text x=\""); out.coord(x); out.raw("\" y=\""); out.coord(y)
        out.raw("\">"); out.text(label); out.raw("</text>")
    }

    static func xAxis(_ out: inout HTMLBuffer, left: Double, right: Double, bottom: Double) {
        out.raw("<path class=\"axis\" d=\"M"); out.coord(left); out.raw(" "); out.coord(bottom)
        out.raw("H"); out.coord(right); out.raw("\"/>")
    }

    /// Tick marks (one path) and their labels below the x axis.
    static func xTicks(_ out: inout HTMLBuffer, _ ticks: [(x: Double, label: String)], bottom: Double) {
        guard !ticks.isEmpty else { return }
        out.raw("<path class=\"axis\" d=\"")
        for t in ticks { out.raw("M"); out.coord(t.x); out.raw(" "); out.coord(bottom); out.raw("v4") }
        out.raw("\"/>")
        out.raw("<g class=\"xt\">")
        for t in ticks { text(&out, x: t.x, y: bottom + 15, t.label) }
        out.raw("</g>")
    }

    /// A label under the x axis, rotated to read upwards and ending at (x, y).
    static func rotatedLabel(_ out: inout HTMLBuffer, x: Double, y: Double, label: String) {
        out.raw("<text transform=\"translate("); out.coord(x); out.raw(" "); out.coord(y)
        out.raw(")rotate(-60)\">"); out.text(label); out.raw("</text>")
    }

    static func axisLabels(_ out: inout HTMLBuffer, x: String, y: String, left: Double, top: Double, bottom: Double,
                           width: Double, height: Double) {
        axisLabels(&out, x: x, y: y, xCenter: (left + width) / 2, yCenter: (top + bottom) / 2, height: height)
    }

    static func axisLabels(_ out: inout HTMLBuffer, x: String, y: String, xCenter: Double, yCenter: Double, height: Double) {
        out.raw("<g class=\"al\">")
        text(&out, x: xCenter, y: height - 4, x)
        out.raw("<text transform=\"translate(13 "); out.coord(yCenter)
        out.raw(")rotate(-90)\">"); out.text(y); out.raw("</text></g>")
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
