import Testing
@testable import Experiment

@Suite struct FeatureEditParsingTests {
    @Test func eachOperationParsesWithItsNumber() throws {
        #expect(try FeatureEdit.parse("layers.10.mlp:32456:ablate") == FeatureEdit(hookpoint: "layers.10.mlp", feature: 32456, operation: .ablate))
        #expect(try FeatureEdit.parse("layers.10.mlp:6252:clamp=8").operation == .clamp(8))
        #expect(try FeatureEdit.parse("layers.20.mlp:31146:scale=2").operation == .scale(2))
        #expect(try FeatureEdit.parse("layers.5:7:add=-0.5").operation == .add(-0.5))
    }

    @Test func generatedRestrictsTheEditToGeneratedPositions() throws {
        let edit = try FeatureEdit.parse("layers.10.mlp:1:scale=0.5@generated")
        #expect(edit.generatedOnly && edit.operation == .scale(0.5))
        #expect(try !FeatureEdit.parse("layers.10.mlp:1:scale=0.5").generatedOnly)
    }

    @Test func editsJoinWithPlusInTheOrderWritten() throws {
        let edits = try FeatureEdit.parseList("layers.10.mlp:6252:clamp=8+layers.20.mlp:31146:scale=2")
        #expect(edits.map(\.hookpoint) == ["layers.10.mlp", "layers.20.mlp"])
        #expect(edits.map(\.feature) == [6252, 31146])
    }

    @Test func anEditReadsBackFromItsDescription() throws {
        for text in ["layers.10.mlp:6252:clamp=8", "layers.3:0:ablate@generated", "layers.20.mlp:31146:scale=0.25", "layers.1.mlp:2:add=-3"] {
            #expect(try FeatureEdit.parse(text).description == text)
        }
    }

    @Test(arguments: [
        ("layers.10.mlp:6252", "HOOKPOINT:FEATURE:OP"),
        ("model.norm:1:ablate", "not a hookpoint"),
        ("layers.10.mlp:-1:ablate", "not a latent index"),
        ("layers.10.mlp:x:ablate", "not a latent index"),
        ("layers.10.mlp:1:clamp=nan", "finite"),
        ("layers.10.mlp:1:clamp=inf", "finite"),
        ("layers.10.mlp:1:clamp=1e39", "finite"),
        ("layers.10.mlp:1:boost=2", "unknown operation"),
        ("layers.10.mlp:1:clamp", "unknown operation"),
        ("layers.10.mlp:1:ablate=3", "unknown operation"),
    ])
    func aBadEditIsRefusedNamingWhatIsWrong(text: String, reason: String) {
        #expect {
            _ = try FeatureEdit.parse(text)
        } throws: { error in
            "\(error)".contains(reason) && "\(error)".contains(text)
        }
    }

    @Test func theOperationsComputeTheNewLatentValue() {
        #expect(FeatureEdit.Operation.ablate.apply(to: 3) == 0)
        #expect(FeatureEdit.Operation.clamp(8).apply(to: 3) == 8)
        #expect(FeatureEdit.Operation.scale(2).apply(to: 3) == 6)
        #expect(FeatureEdit.Operation.add(1.5).apply(to: 3) == 4.5)
    }
}

@Suite struct InterventionConditionParsingTests {
    @Test func aNamedConditionHoldsItsEdits() throws {
        let conditions = try InterventionCondition.parse("boost=layers.10.mlp:6252:clamp=8+layers.20.mlp:31146:scale=2")
        #expect(conditions.count == 1)
        #expect(conditions[0].name == "boost" && conditions[0].edits.count == 2)
    }

    @Test func aSweepGivesOneConditionPerValueNamedByIt() throws {
        let conditions = try InterventionCondition.parse("strength=layers.10.mlp:6252:clamp={0,2,4,8}")
        #expect(conditions.map(\.name) == ["strength@0", "strength@2", "strength@4", "strength@8"])
        #expect(conditions.map { $0.edits[0].operation } == [.clamp(0), .clamp(2), .clamp(4), .clamp(8)])
    }

    @Test func aSweepInsideAMultiEditSweepsOnlyItsEdit() throws {
        let conditions = try InterventionCondition.parse("mix=layers.5.mlp:1:ablate+layers.10.mlp:2:scale={0.5,2}")
        #expect(conditions.map(\.name) == ["mix@0.5", "mix@2"])
        #expect(conditions.allSatisfy { $0.edits[0] == FeatureEdit(hookpoint: "layers.5.mlp", feature: 1, operation: .ablate) })
        #expect(conditions.map { $0.edits[1].operation } == [.scale(0.5), .scale(2)])
    }

    @Test func aDuplicateConditionNameIsRefused() {
        #expect {
            _ = try InterventionCondition.parseAll(["a=layers.5.mlp:1:ablate", "a=layers.5.mlp:2:ablate"])
        } throws: { "\($0)".contains("used twice") }
        #expect {
            _ = try InterventionCondition.parseAll(["s=layers.5.mlp:1:clamp={1,2}", "s=layers.5.mlp:2:scale={2,3}"])
        } throws: { "\($0)".contains("'s@2' is used twice") }
    }

    @Test(arguments: [
        ("layers.5.mlp:1:ablate", "NAME=EDITS"),
        ("=layers.5.mlp:1:ablate", "no name"),
        ("baseline=layers.5.mlp:1:ablate", "run without edits"),
        ("a/b=layers.5.mlp:1:ablate", "names a directory"),
        ("..=layers.5.mlp:1:ablate", "names a directory"),
        ("s@2=layers.5.mlp:1:ablate", "names a directory"),
        ("s=layers.5.mlp:1:clamp={1,2", "without its '}'"),
        ("s=layers.5.mlp:1:clamp={}", "lists values"),
        ("s=layers.5.mlp:1:clamp={1,}", "lists values"),
        ("s=layers.5.mlp:{1,2}:clamp={1,2}", "one sweep"),
        ("s=", "no edits"),
    ])
    func aBadArgumentIsRefusedNamingWhatIsWrong(argument: String, reason: String) {
        #expect {
            _ = try InterventionCondition.parseAll([argument])
        } throws: { "\($0)".contains(reason) }
    }
}
