import Experiment
import Testing

/// `--hookpoints` is parsed once, into the type the wire carries and the bundle names.
@Suite struct HookpointSpecTests {
    @Test func aPlainHookpointCapturesWhereItsSAEWasTrained() throws {
        let spec = try HookpointSpec(parsing: "layers.10.mlp")
        #expect(spec == HookpointSpec(capture: "layers.10.mlp", sae: "layers.10.mlp"))
        #expect(spec.name == "layers.10.mlp")
    }

    @Test func captureEqualsSAEEncodesOneCapturePointWithAnotherHookpointsSAE() throws {
        let spec = try HookpointSpec(parsing: " hidden_states.10 = layers.10.mlp ")
        #expect(spec == HookpointSpec(capture: "hidden_states.10", sae: "layers.10.mlp"))
        #expect(spec.name == "hidden_states.10=layers.10.mlp")
    }

    @Test func aListKeepsItsOrder() throws {
        #expect(try HookpointSpec.parseList("layers.5.mlp,layers.20.mlp,layers.10.mlp").map(\.name)
            == ["layers.5.mlp", "layers.20.mlp", "layers.10.mlp"])
    }

    @Test(arguments: ["", "=layers.1.mlp", "layers.1.mlp=", "a=b=c", "layers.1.mlp,,layers.2.mlp", "layers.1.mlp,"])
    func malformedTextIsRefusedNamingIt(text: String) {
        let error = #expect(throws: HookpointSpecError.self) { try HookpointSpec.parseList(text) }
        #expect(error?.description.contains("expected HOOKPOINT or CAPTURE=SAE") == true)
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
