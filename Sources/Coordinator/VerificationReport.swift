import ResultBundle

/// How a cross-checked run (`--verify-fraction`) reports its checks: every step in run.json
/// (with the workers, in the order they happened) and in manifest.json (in problem order and
/// without the workers that ran them, so a clean run's manifest depends neither on timing nor
/// on which worker ran what).
enum VerificationReport {
    static func runJSON(_ check: CrossCheck) -> JSONValue {
        var object = summary(check)
        object["checks"] = .array(check.records.map { json($0, withWorkers: true) })
        return .object(object)
    }

    static func manifestJSON(_ check: CrossCheck) -> JSONValue {
        var position: [String: Int] = [:]
        for (i, id) in check.problemIDs.enumerated() { position[id] = i }
        let ordered = check.records.enumerated().sorted {
            let a = position[$0.element.problem] ?? .max, b = position[$1.element.problem] ?? .max
            return a != b ? a < b : $0.offset < $1.offset
        }.map(\.element)
        var object = summary(check)
        object["checks"] = .array(ordered.map { json($0, withWorkers: false) })
        return .object(object)
    }

    private static func summary(_ check: CrossCheck) -> [String: JSONValue] {
        func count(_ events: VerificationRecord.Event...) -> JSONValue {
            .int(Int64(check.records.filter { events.contains($0.event) }.count))
        }
        return [
            "fraction": .double(check.fraction),
            "selected_problems": .int(Int64(check.selected.count)),
            "matches": count(.match),
            "mismatches": count(.mismatch),
            "resolved": count(.resolved),
            "unresolved": count(.unresolved),
            "skipped": count(.skipped),
            "reruns": count(.rerunQueued),
            "replaced_results": .int(Int64(check.records.filter {
                $0.event == .rerunReplaced || ($0.event == .resolved && $0.oddWorker == $0.workers.first)
            }.count)),
            "quarantined_workers": .array(check.quarantined.sorted().map { .string($0) }),
        ]
    }

    private static func json(_ record: VerificationRecord, withWorkers: Bool) -> JSONValue {
        var object: [String: JSONValue] = ["problem": .string(record.problem), "event": .string(record.event.rawValue)]
        if withWorkers { object["workers"] = .array(record.workers.map { .string($0) }) }
        if let odd = record.oddWorker { object["odd_worker"] = .string(odd) }
        return .object(object)
    }
}
