using System.Globalization;

namespace Attune.Optimization;

/// <summary>
/// The LLM-free finder. It proposes only maps that the structure justifies, never "any map that
/// passes": on one instance an arbitrary rescaling can carry a unique optimum onto another.
/// <list type="number">
/// <item>Rows of α are matched to rows of α′: by name where most names survive, otherwise by colour
/// refinement (1-WL) over row- and sense-normalised coefficients — a permutation up to row scale.</item>
/// <item>Each matched row gets a scale (ratio of right-hand sides; for zero right-hand sides, the
/// median ratio of sorted coefficient magnitudes).</item>
/// <item>For each variable v of α, the columns of α′ that are parallel to v's column on the matched
/// rows (same support, a'_j = λ_j · s_i · a_v for every matched row i, same integrality) give
/// x_v = Σ_j λ_j x′_j. This one rule covers permutations (one column, λ = 1), variable scaling
/// (λ = k), split variables (λ = 1, 1 or 1, −1) and base-10 digits (λ = 10^k). Columns of α′
/// that are zero on every matched row (slacks, auxiliary objective variables) are projected away.</item>
/// <item>Ambiguities (an α′ column parallel to several α columns) are resolved by the objective
/// coefficients, scaled by the objective's ratio estimated from the unambiguous columns.</item>
/// </list>
/// </summary>
public static class StructuralMapFinder
{
    private const double RelativeTolerance = 1e-7;

    public static LinearMap Find(Formulation original, Formulation transformed)
    {
        var rowMatch = MatchRows(original, transformed);
        var scales = RowScales(original, transformed, rowMatch);

        // Columns restricted to matched rows, keyed by α row index.
        var colA = Columns(original, rowMatch.Keys.ToHashSet(), i => i);
        var inverse = rowMatch.ToDictionary(p => p.Value, p => p.Key);
        var colB = Columns(transformed, inverse.Keys.ToHashSet(), i => inverse[i]);

        // Pass 1 with the rows whose scale is known; then rows with a zero right-hand side get the
        // median scale implied by the columns matched so far; pass 2 uses every matched row.
        var candidates = Candidates(original, transformed, colA, colB, scales, ignoreUnknown: true);
        EstimateUnknownScales(original, transformed, rowMatch, scales, candidates);
        candidates = Candidates(original, transformed, colA, colB, scales, ignoreUnknown: false);

        Disambiguate(original, transformed, candidates, rowMatch.Values.ToHashSet());
        var entries = new Dictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal);
        for (var v = 0; v < candidates.Length; v++)
        {
            entries[original.Variables[v].Name] = candidates[v].ToDictionary(c => transformed.Variables[c.J].Name, c => Clean(c.Lambda), StringComparer.Ordinal);
        }

        return new LinearMap(entries);
    }

    private static List<(int J, double Lambda)>[] Candidates(Formulation original, Formulation transformed,
        List<Dictionary<int, double>> colA, List<Dictionary<int, double>> colB, double?[] scales, bool ignoreUnknown)
    {
        var candidates = new List<(int J, double Lambda)>[original.Variables.Count];
        for (var v = 0; v < candidates.Length; v++)
        {
            candidates[v] = [];
            var a = colA[v];
            if (a.Count == 0)
            {
                continue;
            }

            for (var j = 0; j < transformed.Variables.Count; j++)
            {
                var b = colB[j];
                if (b.Count != a.Count || transformed.Variables[j].IsInteger != original.Variables[v].IsInteger)
                {
                    continue;
                }

                if (Parallel(a, b, scales, ignoreUnknown) is { } lambda)
                {
                    candidates[v].Add((j, lambda));
                }
            }
        }

        return candidates;
    }

    private static void EstimateUnknownScales(Formulation original, Formulation transformed, Dictionary<int, int> rowMatch, double?[] scales,
        List<(int J, double Lambda)>[] candidates)
    {
        var unknown = rowMatch.Keys.Where(i => scales[i] is null || !IsRhsScale(original.Rows[i], transformed.Rows[rowMatch[i]])).ToList();
        foreach (var i in unknown)
        {
            var rowB = transformed.Rows[rowMatch[i]];
            var coefB = new Dictionary<int, double>();
            foreach (var t in rowB.Terms)
            {
                coefB[t.Index] = t.Coefficient;
            }

            var ratios = new List<double>();
            foreach (var t in original.Rows[i].Terms)
            {
                if (candidates[t.Index].Count == 1 && coefB.TryGetValue(candidates[t.Index][0].J, out var b))
                {
                    ratios.Add(b / (candidates[t.Index][0].Lambda * t.Coefficient));
                }
            }

            if (ratios.Count > 0)
            {
                ratios.Sort();
                scales[i] = ratios[ratios.Count / 2];
            }
        }
    }

    private static bool IsRhsScale(Row a, Row b) => a.Rhs != 0 && b.Rhs != 0 && !double.IsInfinity(a.Rhs) && !double.IsInfinity(b.Rhs);

    /// <summary>Rounds a ratio that is within tolerance of a short decimal (0.1 computed as 0.1000000000002).</summary>
    private static double Clean(double x)
    {
        var r = Math.Round(x, 9);
        return Math.Abs(r - x) <= 1e-9 * Math.Max(1, Math.Abs(x)) ? r : x;
    }

    private static bool Close(double a, double b) => Math.Abs(a - b) <= RelativeTolerance * Math.Max(Math.Abs(a), Math.Abs(b)) + 1e-12;

    private static double? Parallel(Dictionary<int, double> a, Dictionary<int, double> b, double?[] scales, bool ignoreUnknown)
    {
        double? lambda = null;
        double? unknownRatio = null;
        foreach (var (row, coefficient) in a)
        {
            if (!b.TryGetValue(row, out var other))
            {
                return null;
            }

            if (scales[row] is { } s)
            {
                var l = other / (s * coefficient);
                if (lambda is null)
                {
                    lambda = l;
                }
                else if (!Close(lambda.Value, l))
                {
                    return null;
                }
            }
            else if (!ignoreUnknown)
            {
                var ratio = other / coefficient;
                if (unknownRatio is null)
                {
                    unknownRatio = ratio;
                }
                else if (!Close(unknownRatio.Value, ratio))
                {
                    return null;
                }
            }
        }

        return lambda ?? unknownRatio;
    }

    private static List<Dictionary<int, double>> Columns(Formulation f, HashSet<int> rows, Func<int, int> key)
    {
        var cols = Enumerable.Range(0, f.Variables.Count).Select(_ => new Dictionary<int, double>()).ToList();
        for (var i = 0; i < f.Rows.Count; i++)
        {
            if (!rows.Contains(i))
            {
                continue;
            }

            foreach (var t in f.Rows[i].Terms)
            {
                cols[t.Index][key(i)] = t.Coefficient;
            }
        }

        return cols;
    }

    /// <summary>
    /// α′'s objective coefficients as the structure defines them: its own objective, or, when that is a
    /// single auxiliary variable t defined by an otherwise unmatched equality row t − c·x = k, the c of that row.
    /// </summary>
    private static double[] EffectiveObjective(Formulation transformed, HashSet<int> matchedRows)
    {
        var cp = new double[transformed.Variables.Count];
        foreach (var t in transformed.Objective.Terms)
        {
            cp[t.Index] += t.Coefficient;
        }

        if (transformed.Objective.Terms.Count != 1)
        {
            return cp;
        }

        var z = transformed.Objective.Terms[0];
        for (var k = 0; k < transformed.Rows.Count; k++)
        {
            var row = transformed.Rows[k];
            if (matchedRows.Contains(k) || row.Sense != RowSense.Equal || !row.Terms.Any(t => t.Index == z.Index) || row.Terms.Count < 2)
            {
                continue;
            }

            var zc = row.Terms.First(t => t.Index == z.Index).Coefficient;
            var defined = new double[transformed.Variables.Count];
            foreach (var t in row.Terms)
            {
                if (t.Index != z.Index)
                {
                    defined[t.Index] = -t.Coefficient / zc * z.Coefficient;
                }
            }

            return defined;
        }

        return cp;
    }

    private static void Disambiguate(Formulation original, Formulation transformed, List<(int J, double Lambda)>[] candidates, HashSet<int> matchedRowsB)
    {
        var claims = new int[transformed.Variables.Count];
        foreach (var list in candidates)
        {
            foreach (var (j, _) in list)
            {
                claims[j]++;
            }
        }

        if (claims.All(n => n <= 1) && candidates.All(list => list.Count <= 1))
        {
            return;
        }

        var c = new double[original.Variables.Count];
        foreach (var t in original.Objective.Terms)
        {
            c[t.Index] += t.Coefficient;
        }

        var cp = EffectiveObjective(transformed, matchedRowsB);

        // The objective's scale from unambiguous pairs: c′_j = ρ · λ · c_v.
        var ratios = new List<double>();
        for (var v = 0; v < candidates.Length; v++)
        {
            if (candidates[v].Count == 1 && claims[candidates[v][0].J] == 1 && c[v] != 0 && cp[candidates[v][0].J] != 0)
            {
                ratios.Add(cp[candidates[v][0].J] / (candidates[v][0].Lambda * c[v]));
            }
        }

        if (ratios.Count > 0)
        {
            ratios.Sort();
            var rho = ratios[ratios.Count / 2];
            for (var v = 0; v < candidates.Length; v++)
            {
                if (candidates[v].Count > 1 || candidates[v].Any(cand => claims[cand.J] > 1))
                {
                    var keep = candidates[v].Where(cand => Close(cp[cand.J], rho * cand.Lambda * c[v])).ToList();
                    if (keep.Count > 0)
                    {
                        candidates[v] = keep;
                    }
                }
            }
        }

        // Columns that nothing tells apart (same rows, same cost): a permutation among them serves as
        // well as any, so assign them one to one, a same-named column first.
        var groups = Enumerable.Range(0, candidates.Length)
            .Where(v => candidates[v].Count > 1)
            .GroupBy(v => string.Join(",", candidates[v].Select(x => x.J)), StringComparer.Ordinal);
        foreach (var group in groups)
        {
            var members = group.ToList();
            var pool = candidates[members[0]].ToList();
            if (members.Count != pool.Count)
            {
                continue;
            }

            foreach (var v in members)
            {
                var pick = pool.FindIndex(x => transformed.Variables[x.J].Name == original.Variables[v].Name);
                pick = pick < 0 ? 0 : pick;
                candidates[v] = [pool[pick]];
                pool.RemoveAt(pick);
            }
        }
    }

    /// <summary>The scale s_i of each matched α row (α′ row = s_i · α row), or null where unknown.</summary>
    private static double?[] RowScales(Formulation a, Formulation b, Dictionary<int, int> match)
    {
        var scales = new double?[a.Rows.Count];
        foreach (var (i, k) in match)
        {
            var ra = a.Rows[i];
            var rb = b.Rows[k];
            var rhsA = ra.Rhs;
            var rhsB = rb.Rhs;
            if (rhsA != 0 && rhsB != 0 && !double.IsInfinity(rhsA) && !double.IsInfinity(rhsB))
            {
                scales[i] = rhsB / rhsA;
                continue;
            }

            // Zero right-hand side: estimated from the columns once they are matched.
        }

        return scales;
    }

    /// <summary>α row index → α′ row index.</summary>
    internal static Dictionary<int, int> MatchRows(Formulation a, Formulation b)
    {
        var byName = new Dictionary<int, int>();
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var k = 0; k < b.Rows.Count; k++)
        {
            names[b.Rows[k].Name] = k;
        }

        for (var i = 0; i < a.Rows.Count; i++)
        {
            if (names.TryGetValue(a.Rows[i].Name, out var k))
            {
                byName[i] = k;
            }
        }

        if (byName.Count * 2 >= a.Rows.Count && a.Rows.Count > 0)
        {
            return byName;
        }

        return MatchRowsByRefinement(a, b);
    }

    /// <summary>Colour refinement on the bipartite graph with coefficients normalised per row (sense and scale), shared palette.</summary>
    private static Dictionary<int, int> MatchRowsByRefinement(Formulation a, Formulation b)
    {
        var palette = new Dictionary<string, int>(StringComparer.Ordinal);
        int Color(string key)
        {
            if (!palette.TryGetValue(key, out var c))
            {
                palette[key] = c = palette.Count;
            }

            return c;
        }

        (int[] Rows, int[] Vars, List<(int Row, int Var, string W)> Edges) Init(Formulation f)
        {
            var edges = new List<(int, int, string)>();
            var rows = new int[f.Rows.Count];
            for (var i = 0; i < f.Rows.Count; i++)
            {
                var r = f.Rows[i];
                var flip = r.Sense == RowSense.GreaterEqual ? -1.0 : 1.0;
                var max = r.Terms.Count == 0 ? 1 : r.Terms.Max(t => Math.Abs(t.Coefficient));
                var sense = r.Sense == RowSense.GreaterEqual ? RowSense.LessEqual : r.Sense;
                var lo = r.Sense == RowSense.GreaterEqual ? -r.Upper : r.Lower;
                var hi = r.Sense == RowSense.GreaterEqual ? -r.Lower : r.Upper;
                rows[i] = Color($"R|{sense}|{Key(lo / max)}|{Key(hi / max)}");
                foreach (var t in r.Terms)
                {
                    edges.Add((i, t.Index, Key(flip * t.Coefficient / max)));
                }
            }

            var objMax = f.Objective.Terms.Count == 0 ? 1 : f.Objective.Terms.Max(t => Math.Abs(t.Coefficient));
            var cost = new double[f.Variables.Count];
            foreach (var t in f.Objective.Terms)
            {
                cost[t.Index] += t.Coefficient;
            }

            var vars = f.Variables.Select((v, j) => Color($"V|{v.Type}|{Key(v.Lower)}|{Key(v.Upper)}|{Key(cost[j] / objMax)}")).ToArray();
            return (rows, vars, edges);
        }

        var ga = Init(a);
        var gb = Init(b);
        for (var iteration = 0; iteration < 4; iteration++)
        {
            (int[] Rows, int[] Vars, List<(int Row, int Var, string W)> Edges) Step((int[] Rows, int[] Vars, List<(int Row, int Var, string W)> Edges) g)
            {
                var rowNbr = g.Rows.Select(_ => new List<string>()).ToArray();
                var varNbr = g.Vars.Select(_ => new List<string>()).ToArray();
                foreach (var (r, v, w) in g.Edges)
                {
                    rowNbr[r].Add(w + "@" + g.Vars[v].ToString(CultureInfo.InvariantCulture));
                    varNbr[v].Add(w + "@" + g.Rows[r].ToString(CultureInfo.InvariantCulture));
                }

                var rows = g.Rows.Select((c, i) => Color($"r{c}:{string.Join(",", rowNbr[i].Order(StringComparer.Ordinal))}")).ToArray();
                var vars = g.Vars.Select((c, j) => Color($"v{c}:{string.Join(",", varNbr[j].Order(StringComparer.Ordinal))}")).ToArray();
                return (rows, vars, g.Edges);
            }

            ga = Step(ga);
            gb = Step(gb);
        }

        var match = new Dictionary<int, int>();
        var pool = new Dictionary<int, Queue<int>>();
        for (var k = 0; k < gb.Rows.Length; k++)
        {
            if (!pool.TryGetValue(gb.Rows[k], out var q))
            {
                pool[gb.Rows[k]] = q = new Queue<int>();
            }

            q.Enqueue(k);
        }

        for (var i = 0; i < ga.Rows.Length; i++)
        {
            if (pool.TryGetValue(ga.Rows[i], out var q) && q.Count > 0)
            {
                match[i] = q.Dequeue();
            }
        }

        return match;
    }

    private static string Key(double x) =>
        double.IsPositiveInfinity(x) ? "inf" : double.IsNegativeInfinity(x) ? "-inf" : Math.Round(x, 9).ToString("G9", CultureInfo.InvariantCulture);
}
