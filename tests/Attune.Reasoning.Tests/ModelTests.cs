using Attune.Torch.Lora;
using Attune.Torch.Merging;
using Attune.Torch.Models;
using Attune.Torch.Tokenizers;
using Attune.Torch.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Reasoning.Tests;

/// <summary>Decoding, training and merging on tiny models built here (real TorchSharp tensors).</summary>
public sealed class ModelTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "attune-cot-model-" + Guid.NewGuid().ToString("N")[..10]);

    public ModelTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A fresh tiny Llama over printable ASCII, saved with its character tokenizer.</summary>
    private string BaseModel(int seed = 3)
    {
        var dir = Path.Combine(_dir, $"base-{seed}");
        var tokenizer = CharTokenizer.FromAlphabet(new string([.. Enumerable.Range(32, 95).Select(i => (char)i)]));
        var config = BuiltInModels.Create("llama", "tiny", tokenizer.VocabSize) with
        {
            MaxPositionEmbeddings = 256, BosTokenId = 1, EosTokenIds = [2], PadTokenId = 0,
        };
        using var model = ModelFolder.Initialize(config, seed);
        model.Save(dir);
        tokenizer.Save(Path.Combine(dir, "tokenizer.json"));
        return dir;
    }

    [Fact]
    public void Two_stage_decoding_continues_the_first_stage_with_the_suffix_tag()
    {
        // Teach a tiny model two continuations: after "q: <prefix>" the first stage, and after
        // "q: <prefix> x.</prefix> <suffix>" the second. Two-stage decoding must find both.
        var baseDir = BaseModel();
        CotPair[] pairs =
        [
            new("q: ", "<prefix> x.</prefix>"),
            new("q: <prefix> x.</prefix> ", "<suffix> So the answer is r.</suffix>"),
        ];
        var settings = new CotSftSettings
        {
            BatchSize = 2,
            Trainer = new TrainerOptions { Epochs = 400, MaxSteps = 300, LearningRate = 1e-2, Seed = 5, LogEvery = 0, AdamW = new AdamWOptions { WeightDecay = 0 } },
        };
        var run = CotTraining.Fit("memorise", baseDir, pairs, null, Path.Combine(_dir, "run"), settings, null, null, CancellationToken.None);
        Assert.True(run.Sft.Train.FinalLoss < 0.05, $"loss {run.Sft.Train.FinalLoss}");
        Assert.True(File.Exists(Path.Combine(run.Output, CotTraining.PairsFile)));

        var (model, tokenizer) = CotTraining.OpenForDecoding(run.Weights!, null);
        using (model)
        {
            var decoder = new CotDecoder(model, tokenizer);
            var options = new CotDecodeOptions { MaxNewTokens = 48, BatchSize = 2 };
            var composable = decoder.Decode(["q: ", "q: "], CotFormat.Composable, options);
            foreach (var c in composable)
            {
                Assert.Equal(" x.</prefix>", c.FirstStage);
                Assert.Equal(" So the answer is r.</suffix>", c.SecondStage);
                Assert.Equal("<prefix> x.</prefix> <suffix> So the answer is r.</suffix>", c.Output);
                Assert.Equal("stop_string,stop_string", c.StopReason);
                Assert.Equal("r", Tasks.ReasoningTasks.ExtractAnswer(c.Output));
            }

            // One stage: the model writes the prefix form and stops at its end-of-sequence token.
            var standard = Assert.Single(decoder.Decode(["q: "], CotFormat.Standard, options));
            Assert.Equal("<prefix> x.</prefix>", standard.Output);
            Assert.Equal("stop_token", standard.StopReason);
            Assert.Null(standard.SecondStage);
        }
    }

    [Fact]
    public void Batched_decoding_gives_what_one_prompt_at_a_time_gives()
    {
        var (model, tokenizer) = ModelFolder.Open(BaseModel(), null);
        using (model)
        {
            var decoder = new CotDecoder(model, tokenizer);
            string[] prompts = ["a: ", "a longer prompt: ", "mid prompt: "];
            var options = new CotDecodeOptions { MaxNewTokens = 6 };
            var together = decoder.Decode(prompts, CotFormat.Composable, options with { BatchSize = 3 });
            var alone = prompts.Select(p => decoder.Decode([p], CotFormat.Composable, options with { BatchSize = 1 })[0]).ToList();
            Assert.Equal(alone.Select(c => c.Output), together.Select(c => c.Output));
            Assert.All(together, c => Assert.Equal(CotDecoder.ComposableOutput(c.FirstStage, c.SecondStage!), c.Output));

            // Sampling is seeded: the same seed gives the same samples.
            var sampled = options with { Greedy = false, Temperature = 1.0, Seed = 9, BatchSize = 3 };
            Assert.Equal(decoder.Decode(prompts, CotFormat.Standard, sampled).Select(c => c.Output), decoder.Decode(prompts, CotFormat.Standard, sampled).Select(c => c.Output));
        }
    }

    [Fact]
    public void A_merged_lora_pair_is_the_base_plus_the_sum_of_its_deltas()
    {
        var baseDir = BaseModel();
        var adapters = new List<string>();
        var merged = new List<Dictionary<string, Tensor>>();
        foreach (var seed in new[] { 1, 2 })
        {
            using var model = CausalLM.Load(baseDir);
            var config = new LoraConfig { Rank = 2, Alpha = 4, TargetModules = ["q_proj", "v_proj"] };
            LoraAdapter.Attach(model, config, seed);
            using (no_grad())
            {
                foreach (var (_, p) in model.Projections().Where(p => p.Projection.HasAdapter))
                {
                    p.LoraB!.copy_(randn_like(p.LoraB!) * 0.1);   // B starts at zero; give the adapter a delta
                }
            }

            var dir = Path.Combine(_dir, $"adapter-{seed}");
            LoraAdapter.Save(model, config, dir);
            adapters.Add(dir);
            LoraAdapter.Merge(model);   // the adapter's own delta, folded into the weights
            merged.Add(model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone()));
        }

        var result = CotMerging.Run(new CotMergeOptions { Base = baseDir, Sources = adapters, Adapters = true, Method = MergeMethod.TaskArithmetic, Weights = [1, 1] }, Path.Combine(_dir, "merged"));
        Assert.Equal([1.0, 1.0], result.Weights);
        using var baseModel = CausalLM.Load(baseDir);
        using var output = CausalLM.Load(result.Output);
        var baseWeights = baseModel.StateDict();
        var changed = 0;
        foreach (var (name, w) in output.StateDict())
        {
            var expected = baseWeights[name] + (merged[0][name] - baseWeights[name]) + (merged[1][name] - baseWeights[name]);
            Assert.True(w.allclose(expected, rtol: 0, atol: 1e-6), name);
            changed += w.allclose(baseWeights[name]) ? 0 : 1;
        }

        Assert.Equal(4, changed);   // q_proj and v_proj in 2 layers
        Assert.True(File.Exists(Path.Combine(result.Output, "tokenizer.json")));
        Assert.True(File.Exists(Path.Combine(result.Output, "merge.json")));
    }
}
