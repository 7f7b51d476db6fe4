using System.Globalization;
using System.Text;

namespace Attune.Optimization;

/// <summary>The baselines of the paper: optimal-value comparison, the Weisfeiler–Lehman test and exact declaration matching.</summary>
public static class Baselines
{
    /// <summary>
    /// "Execution accuracy": equivalent when both optimal values agree (relative tolerance), or both
    /// formulations are infeasible, or both unbounded.
    /// </summary>
    public static bool OptimalValue(SolveResult a, SolveResult b, double tolerance = 1e-6)
    {
        if (a.IsOptimal && b.IsOptimal)
        {
            return Math.Abs(a.Objective - b.Objective) <= tolerance * (1 + Math.Abs(a.Objective));
        }

        return a.Status == b.Status && a.Status is SolveStatus.Infeasible or SolveStatus.Unbounded;
    }

    public static bool OptimalValue(Formulation a, Formulation b) => OptimalValue(OrToolsSolver.Solve(a), OrToolsSolver.Solve(b));

    /// <summary>
    /// The WL test as the paper specifies it: the bipartite variable–constraint graph, constraint
    /// nodes labelled <c>rhs_sense</c>, variable nodes <c>cost_lb_ub_isint</c>, edges labelled by the
    /// coefficient, two refinement iterations; equivalent when the two colour histograms are equal.
    /// </summary>
    public static bool WeisfeilerLehman(Formulation a, Formulation b, int iterations = 2)
    {
        var palette = new Dictionary<string, int>(StringComparer.Ordinal);
        var ha = WlHistogram(a, palette, iterations);
        var hb = WlHistogram(b, palette, iterations);
        return ha.Count == hb.Count && ha.All(p => hb.TryGetValue(p.Key, out var n) && n == p.Value);
    }

    private static Dictionary<int, int> WlHistogram(Formulation f, Dictionary<string, int> palette, int iterations)
    {
        int Color(string key)
        {
            if (!palette.TryGetValue(key, out var c))
            {
                palette[key] = c = palette.Count;
            }

            return c;
        }

        static string N(double x) => x.ToString("R", CultureInfo.InvariantCulture);
        var cost = new double[f.Variables.Count];
        foreach (var t in f.Objective.Terms)
        {
            cost[t.Index] += t.Coefficient;
        }

        var vars = f.Variables.Select((v, j) => Color($"v:{N(cost[j])}_{N(v.Lower)}_{N(v.Upper)}_{(v.IsInteger ? 1 : 0)}")).ToArray();
        var rows = f.Rows.Select(r => Color(r.Sense switch
        {
            RowSense.LessEqual => $"c:{N(r.Upper)}_<=",
            RowSense.GreaterEqual => $"c:{N(r.Lower)}_>=",
            RowSense.Equal => $"c:{N(r.Lower)}_=",
            _ => $"c:{N(r.Lower)}:{N(r.Upper)}_range",
        })).ToArray();
        var varEdges = f.Variables.Select(_ => new List<(int Row, double W)>()).ToArray();
        for (var i = 0; i < f.Rows.Count; i++)
        {
            foreach (var t in f.Rows[i].Terms)
            {
                varEdges[t.Index].Add((i, t.Coefficient));
            }
        }

        for (var it = 0; it < iterations; it++)
        {
            var newRows = new int[rows.Length];
            for (var i = 0; i < rows.Length; i++)
            {
                var nb = f.Rows[i].Terms.Select(t => N(t.Coefficient) + "@" + vars[t.Index].ToString(CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal);
                newRows[i] = Color($"C{rows[i]}({string.Join(",", nb)})");
            }

            var newVars = new int[vars.Length];
            for (var j = 0; j < vars.Length; j++)
            {
                var nb = varEdges[j].Select(e => N(e.W) + "@" + rows[e.Row].ToString(CultureInfo.InvariantCulture)).Order(StringComparer.Ordinal);
                newVars[j] = Color($"V{vars[j]}({string.Join(",", nb)})");
            }

            rows = newRows;
            vars = newVars;
        }

        var histogram = new Dictionary<int, int>();
        foreach (var c in rows.Concat(vars))
        {
            histogram[c] = histogram.GetValueOrDefault(c) + 1;
        }

        return histogram;
    }

    /// <summary>
    /// Exact declaration matching: the same variables (names, types, bounds), the same objective and
    /// the same rows as sets (row names and the order of rows and terms ignored).
    /// </summary>
    public static bool DeclarationMatch(Formulation a, Formulation b) => Declarations(a) == Declarations(b);

    private static string Declarations(Formulation f)
    {
        static string N(double x) => x.ToString("R", CultureInfo.InvariantCulture);
        string Expr(IEnumerable<Term> terms) => string.Join("+", terms.Select(t => (f.Variables[t.Index].Name, t.Coefficient))
            .OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => N(t.Coefficient) + "*" + t.Name));
        var sb = new StringBuilder();
        foreach (var v in f.Variables.OrderBy(v => v.Name, StringComparer.Ordinal))
        {
            sb.Append(CultureInfo.InvariantCulture, $"{v.Name}:{v.Type}:{N(v.Lower)}:{N(v.Upper)};");
        }

        sb.Append(CultureInfo.InvariantCulture, $"|{f.Objective.Sense}:{Expr(f.Objective.Terms)}:{N(f.Objective.Constant)}|");
        foreach (var r in f.Rows.Select(r => $"{N(r.Lower)}<={Expr(r.Terms)}<={N(r.Upper)}").Order(StringComparer.Ordinal))
        {
            sb.Append(r).Append(';');
        }

        return sb.ToString();
    }
}
