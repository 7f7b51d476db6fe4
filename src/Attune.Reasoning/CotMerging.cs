using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Torch.Merging;
using Attune.Torch.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace Attune.Reasoning;

/// <summary>Settings of a ComposableCoT-Merge.</summary>
public sealed record CotMergeOptions
{
    /// <summary>The checkpoint the atomic models were fine-tuned from (the adapters' base).</summary>
    public required string Base { get; init; }

    /// <summary>Fine-tuned model folders, or adapter folders when <see cref="Adapters"/>.</summary>
    public required IReadOnlyList<string> Sources { get; init; }

    public bool Adapters { get; init; }

    public MergeMethod Method { get; init; } = MergeMethod.TaskArithmetic;

    /// <summary>TIES's kept fraction of each task vector.</summary>
    public double Density { get; init; } = 0.5;

    /// <summary>Fixed weights, one per source; null: search <see cref="Grid"/> on <see cref="Validation"/>.</summary>
    public IReadOnlyList<double>? Weights { get; init; }

    /// <summary>The values each source's weight takes in the grid search (every combination is tried).</summary>
    public IReadOnlyList<double> Grid { get; init; } = [0.5, 0.75, 1.0];

    public IReadOnlyList<CotQuestion>? Validation { get; init; }

    public CotFormat Format { get; init; } = CotFormat.Composable;

    public CotDecodeOptions Decode { get; init; } = new();
}

/// <summary>One point of the grid and its validation accuracy (null when weights were given).</summary>
public sealed record MergeCandidate(
    [property: JsonPropertyName("weights")] IReadOnlyList<double> Weights,
    [property: JsonPropertyName("validation")] AccuracyRow? Validation);

/// <summary>The chosen weights, every candidate tried, and where the merged model is.</summary>
public sealed record CotMergeResult(
    [property: JsonPropertyName("method")] string Method,
    [property: JsonPropertyName("weights")] IReadOnlyList<double> Weights,
    [property: JsonPropertyName("candidates")] IReadOnlyList<MergeCandidate> Candidates,
    [property: JsonPropertyName("output")] string Output);

/// <summary>
/// ComposableCoT-Merge (Yin et al. 2025, Section 4.2): the atomic models' task vectors (or LoRA adapters'
/// exact deltas) combined by task arithmetic or TIES (<see cref="ModelMerging"/>), the weights either given
/// or chosen by grid search on the accuracy of a validation split.
/// </summary>
public static class CotMerging
{
    /// <summary>Every combination of <paramref name="values"/> for <paramref name="sources"/> sources, the first source's weight varying slowest.</summary>
    public static IReadOnlyList<double[]> GridPoints(IReadOnlyList<double> values, int sources)
    {
        ArgumentNullException.ThrowIfNull(values);
        IEnumerable<double[]> points = [[]];
        for (var i = 0; i < sources; i++)
        {
            points = points.SelectMany(p => values.Select(v => (double[])[.. p, v]));
        }

        return [.. points];
    }

    /// <summary>Merges, searching the grid when no weights are given (the best validation accuracy wins; ties go to the earlier point), and saves the model in <paramref name="output"/>.</summary>
    public static CotMergeResult Run(CotMergeOptions options, string output, TextWriter? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Sources.Count < 1)
        {
            throw new AttuneInputException("nothing to merge: give --models or --adapters");
        }

        if (options.Weights is { } given && given.Count != options.Sources.Count)
        {
            throw new AttuneInputException($"--weights: {given.Count} weights for {options.Sources.Count} sources");
        }

        if (options.Weights is null && options.Validation is not { Count: > 0 })
        {
            throw new AttuneInputException("give --weights, or --validation to choose them by grid search");
        }

        var (model, tokenizer) = ModelFolder.Open(options.Base, null);
        using (model)
        {
            var baseWeights = model.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.detach().clone(), StringComparer.Ordinal);
            var taskVectors = options.Sources.Select(s =>
            {
                progress?.WriteLine($"task vector from {(options.Adapters ? "adapter" : "model")} {s}");
                return (IReadOnlyDictionary<string, Tensor>)ModelMerging.TaskVectorOf(options.Base, model, baseWeights, s, options.Adapters);
            }).ToList();

            void Load(IReadOnlyList<double> weights)
            {
                using var scope = NewDisposeScope();
                var merged = ModelMerging.Apply(baseWeights, ModelMerging.Combine(taskVectors, weights, options.Method, options.Density));
                model.LoadStateDict(merged, "merged weights");
                foreach (var t in merged.Values)
                {
                    t.Dispose();
                }
            }

            var candidates = new List<MergeCandidate>();
            IReadOnlyList<double> best;
            if (options.Weights is not null)
            {
                best = options.Weights;
                candidates.Add(new MergeCandidate(best, null));
            }
            else
            {
                var decoder = new CotDecoder(model, tokenizer);
                MergeCandidate? top = null;
                foreach (var point in GridPoints(options.Grid, options.Sources.Count))
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    Load(point);
                    var accuracy = CotEvaluation.Evaluate(decoder, options.Validation!, options.Format, options.Decode, cancellationToken).Overall;
                    var candidate = new MergeCandidate(point, accuracy);
                    candidates.Add(candidate);
                    progress?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"weights [{string.Join(", ", point)}]: validation accuracy {accuracy.Accuracy:F3} ({accuracy.Correct}/{accuracy.Total})"));
                    if (top is null || accuracy.Accuracy > top.Validation!.Accuracy)
                    {
                        top = candidate;
                    }
                }

                best = top!.Weights;
            }

            Load(best);
            SaveFolder(model, Path.Combine(options.Base, "tokenizer.json"), output);
            var result = new CotMergeResult(options.Method == MergeMethod.Ties ? "ties" : "ta", best, candidates, Path.GetFullPath(output));
            AtomicFile.WriteAllText(Path.Combine(output, "merge.json"), JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }) + "\n");
            foreach (var t in baseWeights.Values.Concat(taskVectors.SelectMany(v => v.Values)))
            {
                t.Dispose();
            }

            return result;
        }
    }

    /// <summary>Writes a model folder: config, weights and the tokenizer beside them.</summary>
    internal static void SaveFolder(CausalLM model, string tokenizerFile, string output)
    {
        Directory.CreateDirectory(output);
        model.Save(output);
        if (File.Exists(tokenizerFile))
        {
            File.Copy(tokenizerFile, Path.Combine(output, "tokenizer.json"), overwrite: true);
        }
    }
}
