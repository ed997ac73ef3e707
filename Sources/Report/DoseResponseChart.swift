import Foundation

/// A sweep's effect against its strength: one point per condition at (value, estimate) with
/// a vertical whisker over its 95% interval, and a line at zero (no effect). Unlike the other
/// charts the y range may be negative: it spans zero and every interval.
struct DoseResponseChart {
    struct Point {
        var x: Double
        var estimate: Double
        var lo: Double?
        var hi: Double?
        var tooltip: String
    }

    var id: String
    var title: String
    var points: [Point]
    var xLabel: String
    var yLabel: String
    var width = 420
    var plotHeight = 170

    func render(into out: inout HTMLBuffer) {
        let left = 64.0, right = 24.0, top = 12.0
        let height = top + Double(plotHeight) + 52
        let plotWidth = Double(width) - left - right
        let bottom = top + Double(plotHeight)
        var ys: [Double] = [0]
        for p in points { ys += [p.estimate, p.lo ?? p.estimate, p.hi ?? p.estimate] }
        // Round ticks (1, 2, 2.5 or 5 × 10^n apart) covering zero and every interval.
        let spread = ys.max()! - ys.min()!
        let step = Ticks.niceCeiling(spread > 0 ? spread / 4 : 1)
        let yLo = Foundation.floor(ys.min()! / step) * step
        var yHi = Foundation.ceil(ys.max()! / step) * step
        if yHi - yLo < step / 2 { yHi = yLo + step }
        let yTicks = stride(from: yLo, through: yHi + step / 2, by: step).map { ($0 / step).rounded() * step }
        // The strengths, with a margin so no point sits on an axis.
        let xs: [Double] = points.map(\.x)
        var xLo: Double = xs.min() ?? 0, xHi: Double = xs.max() ?? 1
        if xHi - xLo < 1e-12 { xLo -= 1; xHi += 1 }
        let margin = (xHi - xLo) * 0.08
        xLo -= margin; xHi += margin
        func px(_ x: Double) -> Double { left + (x - xLo) / (xHi - xLo) * plotWidth }
        func py(_ y: Double) -> Double { bottom - (y - yLo) / (yHi - yLo) * Double(plotHeight) }

        ChartFrame.open(&out, id: id, title: title, width: width, height: Int(height.rounded(.up)), marks: points.count)
        out.raw("<path class=\"axis\" d=\"M"); out.coord(left); out.raw(" "); out.coord(top); out.raw("V"); out.coord(bottom); out.raw("\"/>")
        out.raw("<path class=\"grid\" d=\"")
        for y in yTicks { out.raw("M"); out.coord(left); out.raw(" "); out.coord(py(y)); out.raw("H"); out.coord(left + plotWidth) }
        out.raw("\"/><path class=\"axis\" data-zero=\"\" d=\"M"); out.coord(left); out.raw(" "); out.coord(py(0)); out.raw("H"); out.coord(left + plotWidth); out.raw("\"/>")
        out.raw("<g class=\"yl\">")
        for y in yTicks { ChartFrame.text(&out, x: left - 5, y: py(y) + 3.5, Ticks.text(y)) }
        out.raw("</g>")
        ChartFrame.xAxis(&out, left: left, right: left + plotWidth, bottom: bottom)
        ChartFrame.xTicks(&out, points.map { (px($0.x), Ticks.text($0.x)) }, bottom: bottom)
        out.raw("<g class=\"bar\">")
        for p in points {
            guard let lo = p.lo, let hi = p.hi else { continue }
            out.raw("<path d=\"M"); out.coord(px(p.x)); out.raw(" "); out.coord(py(lo)); out.raw("V"); out.coord(py(hi))
            out.raw("\"><title>"); out.text(p.tooltip); out.raw("</title></path>")
        }
        out.raw("</g><g class=\"pt\">")
        for p in points {
            out.raw("<path d=\"M"); out.coord(px(p.x)); out.raw(" "); out.coord(py(p.estimate)); out.raw("h0\"><title>")
            out.text(p.tooltip); out.raw("</title></path>")
        }
        out.raw("</g>")
        ChartFrame.axisLabels(&out, x: xLabel, y: yLabel, left: left, top: top, bottom: bottom, width: Double(width), height: height)
        ChartFrame.close(&out)
    }
}
