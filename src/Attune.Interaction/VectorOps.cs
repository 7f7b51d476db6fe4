using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Attune.Interaction;

/// <summary>Small allocation-free vector helpers over spans (SIMD through TensorPrimitives and Vector&lt;T&gt;).</summary>
public static class VectorOps
{
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b);

    public static float Norm(ReadOnlySpan<float> a) => TensorPrimitives.Norm(a);

    /// <summary>Cosine similarity; 0 when either vector is zero.</summary>
    public static float Cosine(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var na = Norm(a);
        var nb = Norm(b);
        return na == 0 || nb == 0 ? 0 : Dot(a, b) / (na * nb);
    }

    /// <summary>Scales <paramref name="a"/> to unit length in place; a zero vector is left as it is. Returns the old norm.</summary>
    public static float Normalize(Span<float> a)
    {
        var n = Norm(a);
        if (n > 0 && float.IsFinite(n))
        {
            TensorPrimitives.Multiply(a, 1f / n, a);
        }

        return n;
    }

    /// <summary>
    /// scores[i] = Σ_k p[k] · byDimension[k·m + i]: the inner products of one preference with every
    /// item, from the items stored dimension-major (d rows of m), as d fused multiply-adds over m.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScoreAll(ReadOnlySpan<float> p, ReadOnlySpan<float> byDimension, Span<float> scores)
    {
        var m = scores.Length;
        var d = p.Length;
        if (byDimension.Length < d * m)
        {
            throw new ArgumentException("byDimension must hold d rows of m values", nameof(byDimension));
        }

        var i = 0;
        ref var v0 = ref MemoryMarshal.GetReference(byDimension);
        ref var out0 = ref MemoryMarshal.GetReference(scores);

        // Register blocking: each chunk of items accumulates all d products in one register and is
        // stored once (d loads, d FMAs, 1 store per chunk).
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= m - 16; i += 16)
            {
                var acc = Vector512<float>.Zero;
                for (var k = 0; k < d; k++)
                {
                    acc = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref v0, (nuint)((k * m) + i)), Vector512.Create(p[k]), acc);
                }

                acc.StoreUnsafe(ref out0, (nuint)i);
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= m - 8; i += 8)
            {
                var acc = Vector256<float>.Zero;
                for (var k = 0; k < d; k++)
                {
                    acc = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref v0, (nuint)((k * m) + i)), Vector256.Create(p[k]), acc);
                }

                acc.StoreUnsafe(ref out0, (nuint)i);
            }
        }

        for (; i < m; i++)
        {
            float acc = 0;
            for (var k = 0; k < d; k++)
            {
                acc += p[k] * byDimension[(k * m) + i];
            }

            scores[i] = acc;
        }
    }

    /// <summary>
    /// The indices of the <c>k = index.Length</c> largest scores, best first (ties: lower index first).
    /// Scores of −∞ or NaN are never taken; unused slots are −1. Once k are held, each chunk of 8
    /// scores is compared with the current k-th best in one SIMD compare and only the lanes above
    /// it are inserted.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static int TopK(ReadOnlySpan<float> scores, Span<int> index, Span<float> value)
    {
        var k = index.Length;
        index.Fill(-1);
        value.Fill(float.NegativeInfinity);
        var filled = 0;
        var threshold = float.NegativeInfinity;
        var i = 0;
        var m = scores.Length;
        while (i < m && filled < k)
        {
            Insert(scores[i], i, index, value, ref filled, ref threshold);
            i++;
        }

        ref var s0 = ref MemoryMarshal.GetReference(scores);
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= m - 16; i += 16)
            {
                var mask = Vector512.GreaterThan(Vector512.LoadUnsafe(ref s0, (nuint)i), Vector512.Create(threshold)).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    var lane = BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                    Insert(scores[i + lane], i + lane, index, value, ref filled, ref threshold);
                }
            }
        }

        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= m - 8; i += 8)
            {
                var mask = Vector256.GreaterThan(Vector256.LoadUnsafe(ref s0, (nuint)i), Vector256.Create(threshold)).ExtractMostSignificantBits();
                while (mask != 0)
                {
                    var lane = BitOperations.TrailingZeroCount(mask);
                    mask &= mask - 1;
                    Insert(scores[i + lane], i + lane, index, value, ref filled, ref threshold);
                }
            }
        }

        for (; i < m; i++)
        {
            Insert(scores[i], i, index, value, ref filled, ref threshold);
        }

        return filled;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Insert(float s, int item, Span<int> index, Span<float> value, ref int filled, ref float threshold)
    {
        var k = index.Length;
        if (filled < k ? !(s > float.NegativeInfinity) : !(s > threshold))
        {
            return;
        }

        var pos = filled < k ? filled : k - 1;
        while (pos > 0 && value[pos - 1] < s)
        {
            value[pos] = value[pos - 1];
            index[pos] = index[pos - 1];
            pos--;
        }

        value[pos] = s;
        index[pos] = item;
        if (filled < k)
        {
            filled++;
        }

        threshold = filled == k ? value[k - 1] : float.NegativeInfinity;
    }

    /// <summary>Solves (A) x = b in place for a symmetric positive definite n×n A (row-major) by Cholesky; A is overwritten.</summary>
    public static void CholeskySolve(Span<double> a, Span<double> b, int n)
    {
        for (var j = 0; j < n; j++)
        {
            var sum = a[(j * n) + j];
            for (var k = 0; k < j; k++)
            {
                sum -= a[(j * n) + k] * a[(j * n) + k];
            }

            var diag = Math.Sqrt(Math.Max(sum, 1e-12));
            a[(j * n) + j] = diag;
            for (var i = j + 1; i < n; i++)
            {
                var s = a[(i * n) + j];
                for (var k = 0; k < j; k++)
                {
                    s -= a[(i * n) + k] * a[(j * n) + k];
                }

                a[(i * n) + j] = s / diag;
            }
        }

        for (var i = 0; i < n; i++)
        {
            var s = b[i];
            for (var k = 0; k < i; k++)
            {
                s -= a[(i * n) + k] * b[k];
            }

            b[i] = s / a[(i * n) + i];
        }

        for (var i = n - 1; i >= 0; i--)
        {
            var s = b[i];
            for (var k = i + 1; k < n; k++)
            {
                s -= a[(k * n) + i] * b[k];
            }

            b[i] = s / a[(i * n) + i];
        }
    }

    /// <summary>Inverts a symmetric positive definite n×n matrix (row-major) into <paramref name="inverse"/>.</summary>
    public static void InvertSpd(ReadOnlySpan<double> a, Span<double> inverse, int n)
    {
        Span<double> work = new double[n * n];
        Span<double> column = new double[n];
        for (var c = 0; c < n; c++)
        {
            a.CopyTo(work);
            column.Clear();
            column[c] = 1;
            CholeskySolve(work, column, n);
            for (var r = 0; r < n; r++)
            {
                inverse[(r * n) + c] = column[r];
            }
        }
    }
}
