using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Attune.Core.IO;
using Attune.Torch.Models;
using static TorchSharp.torch;

namespace Attune.Alignment.Training;

/// <summary>The frozen reference's summed response log-probs of every pair, in data order.</summary>
public sealed record ReferenceLogProbs(double[] Chosen, double[] Rejected, string Key, bool FromCache, double Seconds);

/// <summary>
/// Precomputes the reference model's log-probs once (no gradients, in length-sorted batches) and
/// keeps them on disk as <c>reference-logps-KEY.json</c>, where KEY is the SHA-256 of the model
/// (its config and every parameter's bytes, by name) and of the encoded data (every pair's ids and
/// the padding id). A later run with the same model and data reads the file instead of running
/// the reference; a different model or data gives a different key, so a stale cache is never read.
/// </summary>
public static class ReferenceCache
{
    /// <summary>
    /// The hex SHA-256 of a model's configuration and weights, and of its precision when that is not
    /// fp32: bf16 computes other log-probs from the same float32 weights (fp32 keys are unchanged).
    /// </summary>
    public static string ModelHash(CausalLM model)
    {
        ArgumentNullException.ThrowIfNull(model);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(Encoding.UTF8.GetBytes(JsonSerializer.Serialize(model.Config)));
        if (model.Precision != Precision.Fp32)
        {
            sha.AppendData(Encoding.UTF8.GetBytes("precision:" + model.Precision.Name()));
        }

        foreach (var (name, p) in model.StateDict().OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            sha.AppendData(Encoding.UTF8.GetBytes(name));
            using var cpu = p.detach().cpu().contiguous();
            sha.AppendData(cpu.bytes);
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>The hex SHA-256 of the encoded pairs and the padding id.</summary>
    public static string DataHash(IReadOnlyList<PreferenceTokens> pairs, int padId)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        sha.AppendData(BitConverter.GetBytes(padId));
        foreach (var p in pairs)
        {
            foreach (var part in new[] { p.Prompt, p.Chosen, p.Rejected })
            {
                sha.AppendData(BitConverter.GetBytes(part.Length));
                foreach (var id in part)
                {
                    sha.AppendData(BitConverter.GetBytes(id));
                }
            }
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }

    /// <summary>Computes the reference log-probs of <paramref name="pairs"/> (no gradients), in batches of similar length.</summary>
    public static (double[] Chosen, double[] Rejected) Compute(CausalLM reference, IReadOnlyList<PreferenceTokens> pairs, int batchSize, int padId)
    {
        ArgumentNullException.ThrowIfNull(reference);
        ArgumentNullException.ThrowIfNull(pairs);
        var chosen = new double[pairs.Count];
        var rejected = new double[pairs.Count];
        var wasTraining = reference.training;
        reference.eval();
        using var noGrad = no_grad();
        foreach (var chunk in Enumerable.Range(0, pairs.Count).OrderBy(i => pairs[i].Length).Chunk(Math.Max(1, batchSize)))
        {
            using var scope = NewDisposeScope();
            var sequences = chunk.Select(i => new SequencePair(pairs[i].Prompt, pairs[i].Chosen))
                .Concat(chunk.Select(i => new SequencePair(pairs[i].Prompt, pairs[i].Rejected))).ToList();
            using var logps = LogProbs.Response(reference, sequences, padId);
            var sums = logps.Sum.data<float>().ToArray();
            for (var k = 0; k < chunk.Length; k++)
            {
                chosen[chunk[k]] = sums[k];
                rejected[chunk[k]] = sums[chunk.Length + k];
            }
        }

        reference.train(wasTraining);
        Attune.Torch.Training.NativeMemory.Trim();
        return (chosen, rejected);
    }

    /// <summary>
    /// The reference log-probs of <paramref name="pairs"/>: read from <paramref name="directory"/> when a
    /// file with this model's and data's key is there, otherwise computed and written there (atomically).
    /// </summary>
    public static ReferenceLogProbs Load(CausalLM reference, IReadOnlyList<PreferenceTokens> pairs, int batchSize, int padId, string directory)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(ModelHash(reference) + ":" + DataHash(pairs, padId))));
        var path = Path.Combine(directory, $"reference-logps-{key[..16]}.json");
        if (File.Exists(path))
        {
            try
            {
                using var doc = JsonDocument.Parse(File.ReadAllText(path));
                var root = doc.RootElement;
                if (root.GetProperty("key").GetString() == key)
                {
                    var c = root.GetProperty("chosen").EnumerateArray().Select(e => e.GetDouble()).ToArray();
                    var r = root.GetProperty("rejected").EnumerateArray().Select(e => e.GetDouble()).ToArray();
                    if (c.Length == pairs.Count && r.Length == pairs.Count)
                    {
                        return new ReferenceLogProbs(c, r, key, true, clock.Elapsed.TotalSeconds);
                    }
                }
            }
            catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                // An unreadable cache is recomputed and overwritten.
            }
        }

        var (chosen, rejected) = Compute(reference, pairs, batchSize, padId);
        Directory.CreateDirectory(directory);
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new { key, pairs = pairs.Count, chosen, rejected }) + "\n");
        return new ReferenceLogProbs(chosen, rejected, key, false, clock.Elapsed.TotalSeconds);
    }
}
