import ResultBundle
import Foundation
import TestSupport
#if canImport(FoundationXML)
import FoundationXML
#endif
@testable import Report

/// A synthetic bundle and its report, written in `directory`.
func bundleAndReport(_ spec: SyntheticBundleSpec = SyntheticBundleSpec(), in directory: TemporaryDirectory) throws -> (bundle: String, report: String) {
    let bundle = directory.subdirectory("bundle"), report = directory.file("report")
    try SyntheticBundle.write(spec, to: bundle)
    try ReportGenerator.generate(bundle: bundle, out: report)
    return (bundle, report)
}

/// One synthetic bundle (the default spec) and its report, shared by the tests that only
/// read them; removed when the test process exits.
enum SharedReport {
    static let spec = SyntheticBundleSpec()
    static let directories: (bundle: String, report: String) = {
        let root = makeTemporaryDirectory("report-shared")
        removeAtExit(root)
        let bundle = root + "/bundle", report = root + "/report"
        try! FileManager.default.createDirectory(atPath: bundle, withIntermediateDirectories: true)
        try! SyntheticBundle.write(spec, to: bundle)
        try! ReportGenerator.generate(bundle: bundle, out: report)
        return (bundle, report)
    }()
}

/// A parsed page: elements with attributes, children and text, from a strict XML parse.
final class Element {
    let name: String
    let attributes: [String: String]
    var children: [Element] = []
    var text = ""

    init(name: String, attributes: [String: String]) {
        self.name = name
        self.attributes = attributes
    }

    /// All descendants (and self) named `name`, in document order.
    func all(_ name: String) -> [Element] {
        var out: [Element] = []
        func walk(_ e: Element) {
            if e.name == name { out.append(e) }
            e.children.forEach(walk)
        }
        walk(self)
        return out
    }

    /// Text of self and all descendants.
    var allText: String { text + children.map(\.allText).joined() }

    func chart(_ id: String) -> Element? { all("svg").first { $0.attributes["data-chart"] == id } }

    /// Bars, points or cells of a chart, each as its numbers: a bar `M x y0 V y1` as
    /// [x, y0, y1] and a point `M x y h0` as [x, y, 0], recounted from the paths' subpaths
    /// (one path per tooltip may hold many); a cell as [x, y].
    func marks(_ cls: String) -> [[Double]] {
        if cls == "cell" {
            return all("rect").filter { $0.attributes["class"] == cls }.map { [Double($0.attributes["x"]!)!, Double($0.attributes["y"]!)!] }
        }
        return markPaths(cls).flatMap(Element.subpaths)
    }

    /// The paths that draw the marks of class `cls`, one per tooltip.
    func markPaths(_ cls: String) -> [Element] { all("g").filter { $0.attributes["class"] == cls }.flatMap { $0.all("path") } }

    /// The subpaths of a mark path: "M65 202V86.2M70 202V90" → [[65, 202, 86.2], [70, 202, 90]].
    static func subpaths(_ path: Element) -> [[Double]] {
        let d = path.attributes["d"] ?? ""
        return d.split(separator: "M").map { piece in
            piece.split(whereSeparator: { $0 == " " || $0 == "V" || $0 == "h" }).map { Double($0)! }
        }
    }

    /// The `<title>` tooltips of the marks' paths (one per bar, or one per group of bars).
    func tooltips(_ cls: String) -> [String] { markPaths(cls).map { $0.all("title").first?.text ?? "" } }
}

enum XHTML {
    struct ParseError: Error, CustomStringConvertible {
        let file: String
        let line: Int
        let reason: String
        var description: String { "\(file):\(line): \(reason)" }
    }

    /// Parses a page with Foundation's XMLParser (libxml2), which rejects anything not well formed.
    static func parse(_ path: String) throws -> Element {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        let parser = XMLParser(data: data)
        let builder = Builder()
        parser.delegate = builder
        parser.shouldProcessNamespaces = false
        guard parser.parse(), let root = builder.root else {
            throw ParseError(file: path, line: parser.lineNumber, reason: parser.parserError.map { "\($0)" } ?? "not well formed")
        }
        return root
    }

    final class Builder: NSObject, XMLParserDelegate {
        var stack: [Element] = []
        var root: Element?

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            let e = Element(name: name, attributes: attributes)
            stack.last?.children.append(e)
            if root == nil { root = e }
            stack.append(e)
        }

        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            stack.removeLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            stack.last?.text += string
        }
    }
}

enum Files {
    /// Every regular file under `directory`, by relative path.
    static func all(_ directory: String) -> [String] {
        var out: [String] = []
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return out }
        for case let relative as String in walker {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent(relative), isDirectory: &isDirectory),
               !isDirectory.boolValue {
                out.append(relative)
            }
        }
        return out.sorted()
    }
}
