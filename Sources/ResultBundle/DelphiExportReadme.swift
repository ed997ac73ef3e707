/// The README.md that `thinklens export delphi` writes beside the cache: what the files are
/// and the delphi code that explains and scores these latents, with a `min_examples` chosen
/// for this export's size (delphi's default of 200 assumes about 10 million cached tokens;
/// a GSM8K-sized run has far fewer, and with 200 most latents would be skipped).
enum DelphiExportReadme {
    /// The largest of `DelphiExport.exampleThresholds` that keeps at least this many latents of
    /// every hookpoint, else the smallest threshold.
    static let latentsWanted = 100

    static func suggestedMinExamples(_ summary: DelphiExport.Summary) -> Int {
        let thresholds = DelphiExport.exampleThresholds
        for (i, threshold) in thresholds.enumerated()
        where summary.hookpoints.allSatisfy({ $0.latentsWithExamples[i] >= min(latentsWanted, $0.numLatents) }) {
            return threshold
        }
        return thresholds.last!
    }

    static func text(_ summary: DelphiExport.Summary) -> String {
        let minExamples = suggestedMinExamples(summary)
        let hookpoints = summary.hookpoints.map(\.name)
        let quoted = hookpoints.map { "\"\($0)\"" }.joined(separator: ", ")
        // Train and test sets are drawn from the same examples; keep them within reach.
        let perSet = min(40, max(10, minExamples))
        let quantiles = min(10, max(1, perSet / 4))
        var table = "| min_examples | " + hookpoints.joined(separator: " | ") + " |\n"
        table += "|---|" + String(repeating: "---|", count: hookpoints.count) + "\n"
        for (i, threshold) in DelphiExport.exampleThresholds.enumerated() {
            table += "| \(threshold) | " + summary.hookpoints.map { "\($0.latentsWithExamples[i]) of \($0.numLatents)" }.joined(separator: " | ") + " |\n"
        }
        let divisible = summary.ctxLen % DelphiExport.exampleCtxLen == 0
            ? ""
            : "\n**Note:** `cache_ctx_len` (\(summary.ctxLen)) is not a multiple of delphi's `example_ctx_len` "
              + "(\(DelphiExport.exampleCtxLen)); set `example_ctx_len` to a divisor of it, or export again with `--ctx-len 256`.\n"
        return """
        # A delphi latent cache written by ThinkLens

        `thinklens export delphi` wrote this folder from a result bundle, in the layout of
        EleutherAI delphi's latent cache (what `delphi.latents.LatentCache.save_splits` writes):

        ```
        latents/<hookpoint>/<start>_<end>.safetensors   latents start..end (inclusive)
        latents/<hookpoint>/config.json                 cache_ctx_len, n_tokens, n_splits, model_name, ...
        ```

        Each file holds `locations` [N, 3] (row, position in row, latent − start), `activations`
        float16 [N] and `tokens` int32 [rows, ctx_len]. A row is a window of one problem's
        prompt and generation; a problem's last row is padded with the end-of-sequence id.

        - problems: \(summary.problems)
        - rows: \(summary.rows) of \(summary.ctxLen) tokens (padding id \(summary.eosID))
        - hookpoints: \(hookpoints.joined(separator: ", "))
        - model_name (the tokenizer delphi decodes with): \(summary.modelName)

        ## Explaining and scoring these latents

        In a Python environment with delphi (`pip install eai-delphi`), from this folder:

        ```python
        import asyncio
        import torch
        from transformers import AutoTokenizer
        from delphi.config import ConstructorConfig, SamplerConfig
        from delphi.latents import LatentDataset
        from delphi.clients import OpenRouter          # or Offline(...) for a local vLLM model
        from delphi.explainers import DefaultExplainer
        from delphi.scorers import DetectionScorer
        from delphi.pipeline import Pipeline

        tokenizer = AutoTokenizer.from_pretrained("\(summary.modelName)")
        dataset = LatentDataset(
            raw_dir="latents",
            modules=[\(quoted)],
            latents={h: torch.arange(0, 50) for h in [\(quoted)]},   # which latents to explain
            sampler_cfg=SamplerConfig(n_examples_train=\(perSet), n_examples_test=\(perSet), n_quantiles=\(quantiles)),
            constructor_cfg=ConstructorConfig(min_examples=\(minExamples), example_ctx_len=\(DelphiExport.exampleCtxLen)),
            tokenizer=tokenizer,
        )
        client = OpenRouter("anthropic/claude-3.5-haiku", api_key="...")
        explainer = DefaultExplainer(client, threshold=0.3)
        scorer = DetectionScorer(client, n_examples_shown=5)

        async def explain_and_score(record):
            explained = await explainer(record)
            print(record.latent, explained.explanation)
            record.explanation = explained.explanation
            record.extra_examples = record.not_active
            scored = await scorer(record)   # one prediction per shown example
            print(record.latent, sum(o.correct for o in scored.score), "of", len(scored.score), "correct")

        asyncio.run(Pipeline(dataset, explain_and_score).run(max_concurrent=4))
        ```

        delphi's command line reads a cache too. Put this folder at `results/NAME`, so that
        `results/NAME/latents` exists, and run from the folder that holds `results`:

        ```sh
        python -m delphi \(summary.modelName) SAES --name NAME --hookpoints \(hookpoints.joined(separator: " ")) \\
            --min_examples \(minExamples) --n_examples_train \(perSet) --n_examples_test \(perSet) --n_quantiles \(quantiles)
        ```

        SAES is the SAEs' Hugging Face name or folder. delphi skips caching because the
        hookpoints' folders exist, but it still loads the model and the SAEs. Its command line
        also imports `plotly`, which `eai-delphi` does not install.

        ## min_examples

        delphi explains a latent only when it fires in at least `min_examples` distinct
        \(DelphiExport.exampleCtxLen)-token windows. Its default, 200, assumes about 10 million
        cached tokens; this export has \(summary.rows * summary.ctxLen), padding included. The
        latents that qualify, for each value:

        \(table)
        The code above uses \(minExamples): the largest value that keeps at least \(latentsWanted)
        latents of every hookpoint.
        \(divisible)
        """
    }
}
