import Experiment
import Testing

/// `--hookpoints`: `HOOKPOINT` or `CAPTURE=SAE`, comma-separated.
@Suite struct HookpointSpecTests {
    @Test func aPlainHookpointCapturesWhereItsSAEWasTrained() throws {
        #expect(try HookpointSpec.parseList("layers.5.mlp, layers.10.mlp") == [
            HookpointSpec(capture: "layers.5.mlp", sae: "layers.5.mlp"), HookpointSpec(capture: "layers.10.mlp", sae: "layers.10.mlp"),
        ])
    }

    @Test func captureEqualsSAEPairsThemAndNamesTheHookpointSo() throws {
        let specs = try HookpointSpec.parseList(" hidden_states.10 = layers.10.mlp ")
        #expect(specs == [HookpointSpec(capture: "hidden_states.10", sae: "layers.10.mlp")])
        #expect(specs.map(\.name) == ["hidden_states.10=layers.10.mlp"])
    }

    @Test(arguments: ["", "a,,b", "a=", "=b", "a=b=c", " , "])
    func emptyPartsAndExtraEqualsSignsAreRefused(text: String) {
        #expect(throws: HookpointSpecError.self) { try HookpointSpec.parseList(text) }
    }

    /// Found by `scripts/fuzz grammar` (its input): the mark U+0301 after ',' made one Character
    /// with it, so the list split in two places, but its names joined with ',' split in one.
    @Test func listsSplitAtEverySeparatorWhateverFollowsIt() throws {
        let specs = try HookpointSpec.parseList("\0,r,\u{2028}\u{301}5,3]")
        #expect(specs.map(\.capture) == ["\0", "r", "\u{301}5", "3]"])
        #expect(try HookpointSpec.parseList(specs.map(\.name).joined(separator: ",")) == specs)
        #expect(try HookpointSpec.parseList("a=\u{301}b") == [HookpointSpec(capture: "a", sae: "\u{301}b")])
    }
}
