using System.Globalization;

namespace Attune.Optimization;

/// <summary>A transformed formulation with its label and, for equivalent ones, the true map.</summary>
public sealed record TransformedPair(string Transformation, bool Equivalent, Formulation Transformed, LinearMap? TrueMap, string Description);

/// <summary>
/// The transformations that build the evaluation set (Section 5 of the paper). Equivalent ones come
/// with the map f that carries the transformed formulation's solutions back to the original's.
/// </summary>
public static class Transformations
{
    public static readonly IReadOnlyList<string> Equivalent =
        ["rename", "digits", "valid-inequality", "objective-aux", "slack", "split-sum", "split-diff", "rescale"];

    public static readonly IReadOnlyList<string> NotEquivalent = ["unrelated", "feasibility", "loose"];

    public static IReadOnlyList<string> All => [.. Equivalent, .. NotEquivalent];

    public static bool IsEquivalent(string transformation) => Equivalent.Contains(transformation);

    /// <summary>
    /// Applies <paramref name="transformation"/> to <paramref name="f"/>; null where it does not apply
    /// (digits without an integer variable, loose without a binding row whose removal changes the optimum).
    /// <paramref name="unrelated"/> draws another instance of the same family for <c>unrelated</c>.
    /// </summary>
    public static TransformedPair? Apply(string transformation, Formulation f, Random rng, Func<Formulation>? unrelated = null) => transformation switch
    {
        "rename" => Rename(f, rng),
        "digits" => Digits(f, rng),
        "valid-inequality" => ValidInequality(f, rng),
        "objective-aux" => ObjectiveAux(f),
        "slack" => Slack(f, rng),
        "split-sum" => Split(f, rng, difference: false),
        "split-diff" => Split(f, rng, difference: true),
        "rescale" => Rescale(f, rng),
        "unrelated" => unrelated is null ? null : new TransformedPair("unrelated", false, unrelated().With(name: f.Name + "-unrelated"), null, "another instance of the same family"),
        "feasibility" => new TransformedPair("feasibility", false, f.With(name: f.Name + "-feasibility", objective: new Objective(f.Objective.Sense, [], 0, f.Objective.Name)), null, "the objective replaced by the constant 0"),
        "loose" => Loose(f, rng),
        _ => throw new ArgumentException($"unknown transformation '{transformation}' (known: {string.Join(", ", All)})", nameof(transformation)),
    };

    private static string S(int i) => i.ToString(CultureInfo.InvariantCulture);

    private static Dictionary<string, IReadOnlyDictionary<string, double>> IdentityEntries(Formulation f) =>
        f.Variables.ToDictionary(v => v.Name, v => (IReadOnlyDictionary<string, double>)new Dictionary<string, double> { [v.Name] = 1 }, StringComparer.Ordinal);

    private static void Shuffle<T>(IList<T> list, Random rng)
    {
        for (var i = list.Count - 1; i > 0; i--)
        {
            var j = rng.Next(i + 1);
            (list[i], list[j]) = (list[j], list[i]);
        }
    }

    /// <summary>Variables and rows shuffled and renamed to meaningless names; terms reordered.</summary>
    private static TransformedPair Rename(Formulation f, Random rng)
    {
        var order = Enumerable.Range(0, f.Variables.Count).ToList();
        Shuffle(order, rng);
        var newIndex = new int[order.Count];
        for (var k = 0; k < order.Count; k++)
        {
            newIndex[order[k]] = k;
        }

        var b = new FormulationBuilder(f.Name + "-rename");
        foreach (var old in order)
        {
            var v = f.Variables[old];
            b.Add("v" + S(newIndex[old] + 1), v.Type, v.Lower, v.Upper);
        }

        var rows = f.Rows.ToList();
        Shuffle(rows, rng);
        var r = 0;
        foreach (var row in rows)
        {
            var terms = row.Terms.Select(t => new Term(newIndex[t.Index], t.Coefficient)).ToList();
            Shuffle(terms, rng);
            b.Row("c" + S(++r), terms, row.Lower, row.Upper);
        }

        b.Objective(f.Objective.Sense, f.Objective.Terms.Select(t => new Term(newIndex[t.Index], t.Coefficient)), f.Objective.Constant, "z");
        var map = f.Variables.Select((v, i) => (v.Name, Image: "v" + S(newIndex[i] + 1)))
            .ToDictionary(p => p.Name, p => (IReadOnlyDictionary<string, double>)new Dictionary<string, double> { [p.Image] = 1 }, StringComparer.Ordinal);
        return new TransformedPair("rename", true, b.Build(), new LinearMap(map), "variables and rows shuffled and renamed");
    }

    /// <summary>Rebuilds <paramref name="f"/> with variable <paramref name="target"/> replaced by Σ_k coef_k · new_k.</summary>
    private static FormulationBuilder Substitute(Formulation f, int target, IReadOnlyList<(Variable Variable, double Coefficient)> parts, string name, out int[] newIndex)
    {
        var b = new FormulationBuilder(name);
        var index = new int[f.Variables.Count];
        var partIndex = new List<int>();
        for (var i = 0; i < f.Variables.Count; i++)
        {
            if (i == target)
            {
                index[i] = -1;
                foreach (var (v, _) in parts)
                {
                    partIndex.Add(b.Add(v.Name, v.Type, v.Lower, v.Upper));
                }

                continue;
            }

            var w = f.Variables[i];
            index[i] = b.Add(w.Name, w.Type, w.Lower, w.Upper);
        }

        IEnumerable<Term> Rewrite(IEnumerable<Term> terms) => terms.SelectMany(t => t.Index == target
            ? parts.Select((p, k) => new Term(partIndex[k], p.Coefficient * t.Coefficient))
            : [new Term(index[t.Index], t.Coefficient)]);

        foreach (var row in f.Rows)
        {
            b.Row(row.Name, Rewrite(row.Terms), row.Lower, row.Upper);
        }

        b.Objective(f.Objective.Sense, Rewrite(f.Objective.Terms), f.Objective.Constant, f.Objective.Name);
        newIndex = [.. partIndex];
        return b;
    }

    /// <summary>An integer variable x ∈ [0, U] replaced by Σ_k 10^k d_k with digits d_k ∈ {0..9} (and Σ ≤ U kept as a row).</summary>
    private static TransformedPair? Digits(Formulation f, Random rng)
    {
        var candidates = Enumerable.Range(0, f.Variables.Count)
            .Where(i => f.Variables[i].IsInteger && f.Variables[i].Lower >= 0 && f.Variables[i].Upper is >= 1 and <= 1e6).ToList();
        if (candidates.Count == 0)
        {
            return null;
        }

        var maxUpper = candidates.Max(i => f.Variables[i].Upper);
        var pool = candidates.Where(i => f.Variables[i].Upper == maxUpper).ToList();
        var target = pool[rng.Next(pool.Count)];
        var x = f.Variables[target];
        var digits = Math.Max(1, (int)Math.Floor(Math.Log10(x.Upper)) + 1);
        var parts = Enumerable.Range(0, digits)
            .Select(k => (new Variable($"{x.Name}_d{S(k)}", VariableType.Integer, 0, 9), Math.Pow(10, k))).ToList();
        var b = Substitute(f, target, parts, f.Name + "-digits", out var idx);
        var sum = parts.Select((p, k) => new Term(idx[k], p.Item2)).ToList();
        b.Row($"{x.Name}_digits", sum, x.Lower > 0 ? x.Lower : double.NegativeInfinity, x.Upper);
        var map = IdentityEntries(f);
        map[x.Name] = parts.ToDictionary(p => p.Item1.Name, p => p.Item2, StringComparer.Ordinal);
        return new TransformedPair("digits", true, b.Build(), new LinearMap(map), $"{x.Name} written in base 10 with {digits} digit variables");
    }

    /// <summary>LP: the sum of two same-sense rows added as a row. MILP: a Chvátal–Gomory cut of a ≤ row over non-negative integers.</summary>
    private static TransformedPair ValidInequality(Formulation f, Random rng)
    {
        Row? added = null;
        string description;
        if (f.IsMixedInteger)
        {
            var candidates = f.Rows.Where(r => !double.IsPositiveInfinity(r.Upper) && r.Terms.Count > 1
                && r.Terms.All(t => f.Variables[t.Index].IsInteger && f.Variables[t.Index].Lower >= 0)).ToList();
            var reversed = f.Rows.Where(r => !double.IsNegativeInfinity(r.Lower) && r.Terms.Count > 1
                && r.Terms.All(t => f.Variables[t.Index].IsInteger && f.Variables[t.Index].Lower >= 0)).ToList();
            double[] multipliers = [0.5, 1.0 / 3, 0.25, 2.0 / 3];
            if (candidates.Count > 0)
            {
                var row = candidates[rng.Next(candidates.Count)];
                var u = multipliers[rng.Next(multipliers.Length)];
                added = new Row("cg_cut", Formulation.Combine(row.Terms.Select(t => new Term(t.Index, Math.Floor(u * t.Coefficient + 1e-9)))),
                    double.NegativeInfinity, Math.Floor(u * row.Upper + 1e-9));
                description = $"Chvátal–Gomory cut of {row.Name} with multiplier {u:G4}";
            }
            else if (reversed.Count > 0)
            {
                // -a·x ≤ -lo, rounded down.
                var row = reversed[rng.Next(reversed.Count)];
                var u = multipliers[rng.Next(multipliers.Length)];
                added = new Row("cg_cut", Formulation.Combine(row.Terms.Select(t => new Term(t.Index, Math.Floor(-u * t.Coefficient + 1e-9)))),
                    double.NegativeInfinity, Math.Floor(-u * row.Lower + 1e-9));
                description = $"Chvátal–Gomory cut of −{row.Name} with multiplier {u:G4}";
            }
            else
            {
                description = "";
            }
        }
        else
        {
            description = "";
        }

        if (added is null || added.Terms.Count == 0)
        {
            var le = f.Rows.Where(r => r.Sense == RowSense.LessEqual).ToList();
            var ge = f.Rows.Where(r => r.Sense == RowSense.GreaterEqual).ToList();
            var eq = f.Rows.Where(r => r.Sense == RowSense.Equal).ToList();
            var group = new[] { le, ge, eq }.Where(g => g.Count >= 2).OrderBy(_ => rng.Next()).FirstOrDefault()
                        ?? new[] { le, ge, eq }.First(g => g.Count >= 1);
            var i = rng.Next(group.Count);
            var j = group.Count > 1 ? (i + 1 + rng.Next(group.Count - 1)) % group.Count : i;
            var a = group[i];
            var c = group[j];
            added = new Row("valid_sum", Formulation.Combine(a.Terms.Concat(c.Terms)), a.Lower + c.Lower, a.Upper + c.Upper);
            description = $"the sum of {a.Name} and {c.Name}";
        }

        return new TransformedPair("valid-inequality", true, f.With(name: f.Name + "-valid", rows: [.. f.Rows, added]), new LinearMap(IdentityEntries(f)),
            "valid inequality added: " + description);
    }

    /// <summary>The objective c·x moved into a free auxiliary variable t with the row t − c·x = constant.</summary>
    private static TransformedPair ObjectiveAux(Formulation f)
    {
        var b = new FormulationBuilder(f.Name + "-objaux");
        foreach (var v in f.Variables)
        {
            b.Add(v.Name, v.Type, v.Lower, v.Upper);
        }

        var t = b.Add("objective_value", VariableType.Continuous, double.NegativeInfinity, double.PositiveInfinity);
        foreach (var r in f.Rows)
        {
            b.Row(r.Name, r.Terms, r.Lower, r.Upper);
        }

        b.Eq("objective_definition", f.Objective.Terms.Select(x => new Term(x.Index, -x.Coefficient)).Append(new Term(t, 1)), f.Objective.Constant);
        b.Objective(f.Objective.Sense, [new Term(t, 1)], 0, f.Objective.Name);
        return new TransformedPair("objective-aux", true, b.Build(), new LinearMap(IdentityEntries(f)), "objective moved into the auxiliary variable objective_value");
    }

    /// <summary>Inequality rows turned into equalities with non-negative slack (or surplus) variables.</summary>
    private static TransformedPair? Slack(Formulation f, Random rng)
    {
        var inequalities = f.Rows.Where(r => r.Sense is RowSense.LessEqual or RowSense.GreaterEqual).ToList();
        if (inequalities.Count == 0)
        {
            return null;
        }

        var chosen = inequalities.Where(_ => rng.NextDouble() < 0.6).ToHashSet();
        if (chosen.Count == 0)
        {
            chosen.Add(inequalities[rng.Next(inequalities.Count)]);
        }

        var b = new FormulationBuilder(f.Name + "-slack");
        foreach (var v in f.Variables)
        {
            b.Add(v.Name, v.Type, v.Lower, v.Upper);
        }

        foreach (var r in f.Rows)
        {
            if (!chosen.Contains(r))
            {
                b.Row(r.Name, r.Terms, r.Lower, r.Upper);
                continue;
            }

            var s = b.Add("slack_" + r.Name);
            b.Eq(r.Name, r.Terms.Append(new Term(s, r.Sense == RowSense.LessEqual ? 1 : -1)), r.Rhs);
        }

        b.Objective(f.Objective.Sense, f.Objective.Terms, f.Objective.Constant, f.Objective.Name);
        return new TransformedPair("slack", true, b.Build(), new LinearMap(IdentityEntries(f)), $"slack variables on {chosen.Count} rows");
    }

    /// <summary>x = x1 + x2 (both within x's bounds when x ≥ 0) or x = x⁺ − x⁻ (both ≥ 0), with x's bounds kept as a row.</summary>
    private static TransformedPair? Split(Formulation f, Random rng, bool difference)
    {
        var candidates = Enumerable.Range(0, f.Variables.Count).Where(i => f.Variables[i].Lower >= 0 || difference).ToList();
        if (candidates.Count == 0)
        {
            return null;
        }

        var count = Math.Min(candidates.Count, 1 + rng.Next(3));
        var targets = candidates.OrderBy(_ => rng.Next()).Take(count).Select(i => f.Variables[i].Name).ToList();
        var current = f;
        var map = IdentityEntries(f);
        foreach (var name in targets)
        {
            var target = current.IndexOf(name);
            var x = current.Variables[target];
            var type = x.IsInteger ? VariableType.Integer : VariableType.Continuous;
            var (n1, n2) = difference ? ($"{x.Name}_plus", $"{x.Name}_minus") : ($"{x.Name}_a", $"{x.Name}_b");
            var parts = difference
                ? new List<(Variable, double)> { (new Variable(n1, type, 0, double.PositiveInfinity), 1), (new Variable(n2, type, 0, double.PositiveInfinity), -1) }
                : [(new Variable(n1, type, 0, x.Upper), 1), (new Variable(n2, type, 0, x.Upper), 1)];
            var b = Substitute(current, target, parts, current.Name, out var idx);
            var needsRow = difference ? !(double.IsNegativeInfinity(x.Lower) && double.IsPositiveInfinity(x.Upper)) : (x.Lower > 0 || !double.IsPositiveInfinity(x.Upper));
            if (needsRow)
            {
                b.Row($"{x.Name}_bounds", [new Term(idx[0], 1), new Term(idx[1], difference ? -1 : 1)], x.Lower > 0 || difference ? x.Lower : double.NegativeInfinity, x.Upper);
            }

            current = b.Build();
            map[x.Name] = new Dictionary<string, double> { [n1] = 1, [n2] = difference ? -1 : 1 };
        }

        var label = difference ? "split-diff" : "split-sum";
        return new TransformedPair(label, true, current.With(name: f.Name + "-" + label), new LinearMap(map),
            $"{string.Join(", ", targets)} substituted by {(difference ? "x⁺ − x⁻" : "x₁ + x₂")}");
    }

    /// <summary>Continuous variables rescaled (x = k·x′), some rows and the objective multiplied by positive factors.</summary>
    private static TransformedPair Rescale(Formulation f, Random rng)
    {
        double[] factors = [2, 0.5, 4, 0.25, 10, 0.1, 3, 5];
        var scale = new double[f.Variables.Count];
        for (var i = 0; i < scale.Length; i++)
        {
            scale[i] = !f.Variables[i].IsInteger && rng.NextDouble() < 0.3 ? factors[rng.Next(factors.Length)] : 1;
        }

        var b = new FormulationBuilder(f.Name + "-rescale");
        for (var i = 0; i < scale.Length; i++)
        {
            var v = f.Variables[i];
            // x = k·x′, so x′ ∈ [lo/k, hi/k] and every coefficient of x′ is k times that of x.
            b.Add(scale[i] == 1 ? v.Name : v.Name + "_scaled", v.Type, v.Lower / scale[i], v.Upper / scale[i]);
        }

        var rowsScaled = 0;
        foreach (var r in f.Rows)
        {
            var m = rng.NextDouble() < 0.4 ? factors[rng.Next(factors.Length)] : 1;
            rowsScaled += m == 1 ? 0 : 1;
            b.Row(r.Name, r.Terms.Select(t => new Term(t.Index, t.Coefficient * scale[t.Index] * m)), r.Lower * m, r.Upper * m);
        }

        var objectiveFactor = factors[rng.Next(factors.Length)];
        b.Objective(f.Objective.Sense, f.Objective.Terms.Select(t => new Term(t.Index, t.Coefficient * scale[t.Index] * objectiveFactor)),
            f.Objective.Constant * objectiveFactor, f.Objective.Name);
        var map = new Dictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal);
        for (var i = 0; i < scale.Length; i++)
        {
            var v = f.Variables[i];
            map[v.Name] = new Dictionary<string, double> { [scale[i] == 1 ? v.Name : v.Name + "_scaled"] = scale[i] };
        }

        return new TransformedPair("rescale", true, b.Build(), new LinearMap(map),
            $"{scale.Count(k => k != 1)} variables and {rowsScaled} rows rescaled, objective multiplied by {objectiveFactor.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>A binding row dropped so that the optimum changes (the feasible set grows and the optimal value improves).</summary>
    private static TransformedPair? Loose(Formulation f, Random rng)
    {
        var solution = OrToolsSolver.Solve(f);
        if (!solution.IsOptimal)
        {
            return null;
        }

        var order = Enumerable.Range(0, f.Rows.Count).OrderBy(_ => rng.Next()).ToList();
        foreach (var i in order)
        {
            var row = f.Rows[i];
            var a = row.Activity(solution.X);
            var binding = Math.Abs(a - row.Lower) < 1e-6 * (1 + Math.Abs(a)) || Math.Abs(a - row.Upper) < 1e-6 * (1 + Math.Abs(a));
            if (!binding)
            {
                continue;
            }

            var loose = f.With(name: f.Name + "-loose", rows: [.. f.Rows.Where((_, k) => k != i)]);
            var s = OrToolsSolver.Solve(loose);
            if (s.Status == SolveStatus.Unbounded || (s.IsOptimal && Math.Abs(s.Objective - solution.Objective) > 1e-6 * (1 + Math.Abs(solution.Objective))))
            {
                return new TransformedPair("loose", false, loose, null, $"binding row {row.Name} dropped");
            }
        }

        return null;
    }
}
