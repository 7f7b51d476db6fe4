using System.Globalization;

namespace Attune.Optimization;

/// <summary>The domain of a decision variable.</summary>
public enum VariableType
{
    Continuous,
    Integer,
    Binary,
}

/// <summary>Whether the objective is minimised or maximised.</summary>
public enum ObjectiveSense
{
    Minimize,
    Maximize,
}

/// <summary>How a row reads: <c>≤</c>, <c>≥</c>, <c>=</c>, or ranged (<c>lo ≤ a·x ≤ hi</c>).</summary>
public enum RowSense
{
    LessEqual,
    GreaterEqual,
    Equal,
    Ranged,
}

/// <summary>A decision variable with its bounds (infinite bounds are <see cref="double.PositiveInfinity"/> and its negative).</summary>
public sealed record Variable(string Name, VariableType Type, double Lower, double Upper)
{
    public bool IsInteger => Type != VariableType.Continuous;
}

/// <summary>One coefficient of a linear expression: <c>Coefficient · x[Index]</c>.</summary>
public readonly record struct Term(int Index, double Coefficient);

/// <summary>A row <c>Lower ≤ Σ terms ≤ Upper</c>; one-sided rows have an infinite bound.</summary>
public sealed record Row(string Name, IReadOnlyList<Term> Terms, double Lower, double Upper)
{
    public RowSense Sense =>
        Lower == Upper ? RowSense.Equal
        : double.IsNegativeInfinity(Lower) ? RowSense.LessEqual
        : double.IsPositiveInfinity(Upper) ? RowSense.GreaterEqual
        : RowSense.Ranged;

    /// <summary>The right-hand side as written in an LP file (the finite bound; the lower one for ranged rows).</summary>
    public double Rhs => Sense == RowSense.LessEqual ? Upper : Lower;

    public double Activity(IReadOnlyList<double> x)
    {
        var sum = 0.0;
        foreach (var t in Terms)
        {
            sum += t.Coefficient * x[t.Index];
        }

        return sum;
    }
}

/// <summary>A linear objective <c>Constant + Σ terms</c>, minimised or maximised.</summary>
public sealed record Objective(ObjectiveSense Sense, IReadOnlyList<Term> Terms, double Constant = 0, string Name = "obj")
{
    public double Value(IReadOnlyList<double> x)
    {
        var sum = Constant;
        foreach (var t in Terms)
        {
            sum += t.Coefficient * x[t.Index];
        }

        return sum;
    }
}

/// <summary>
/// A linear or mixed-integer program: named variables with types and bounds, named rows and a
/// linear objective. Immutable; transformations build new ones.
/// </summary>
public sealed class Formulation
{
    private readonly Dictionary<string, int> _byName;

    public Formulation(string name, IReadOnlyList<Variable> variables, IReadOnlyList<Row> rows, Objective objective)
    {
        Name = name;
        Variables = variables;
        Rows = rows;
        Objective = objective;
        _byName = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < variables.Count; i++)
        {
            if (!_byName.TryAdd(variables[i].Name, i))
            {
                throw new ArgumentException($"variable '{variables[i].Name}' is declared twice", nameof(variables));
            }
        }
    }

    public string Name { get; }

    public IReadOnlyList<Variable> Variables { get; }

    public IReadOnlyList<Row> Rows { get; }

    public Objective Objective { get; }

    public bool IsMixedInteger => Variables.Any(v => v.IsInteger);

    public int IndexOf(string variable) => _byName.TryGetValue(variable, out var i) ? i : -1;

    public Formulation With(string? name = null, IReadOnlyList<Variable>? variables = null, IReadOnlyList<Row>? rows = null, Objective? objective = null) =>
        new(name ?? Name, variables ?? Variables, rows ?? Rows, objective ?? Objective);

    /// <summary>The largest violation of a bound, a row or integrality by <paramref name="x"/>, relative to the row's scale.</summary>
    public Violation? FindViolation(IReadOnlyList<double> x, double tolerance = 1e-6, double integralityTolerance = 1e-5)
    {
        for (var i = 0; i < Variables.Count; i++)
        {
            var v = Variables[i];
            var tol = tolerance * (1 + Math.Abs(x[i]));
            if (x[i] < v.Lower - tol || x[i] > v.Upper + tol)
            {
                return new Violation($"variable {v.Name} = {Fmt(x[i])} outside its bounds [{Fmt(v.Lower)}, {Fmt(v.Upper)}]");
            }

            if (v.IsInteger && Math.Abs(x[i] - Math.Round(x[i])) > integralityTolerance * (1 + Math.Abs(x[i])))
            {
                return new Violation($"integer variable {v.Name} = {Fmt(x[i])} is fractional");
            }
        }

        foreach (var r in Rows)
        {
            var a = r.Activity(x);
            var scale = 1 + r.Terms.Sum(t => Math.Abs(t.Coefficient * x[t.Index]));
            if (a < r.Lower - tolerance * scale || a > r.Upper + tolerance * scale)
            {
                return new Violation($"row {r.Name}: activity {Fmt(a)} outside [{Fmt(r.Lower)}, {Fmt(r.Upper)}]");
            }
        }

        return null;
    }

    public override string ToString() => $"{Name}: {Variables.Count} variables ({Variables.Count(v => v.IsInteger)} integer), {Rows.Count} rows";

    internal static string Fmt(double v) =>
        double.IsPositiveInfinity(v) ? "inf" : double.IsNegativeInfinity(v) ? "-inf" : v.ToString("R", CultureInfo.InvariantCulture);

    /// <summary>Merges repeated indices and drops zero coefficients, keeping first-appearance order.</summary>
    public static IReadOnlyList<Term> Combine(IEnumerable<Term> terms)
    {
        var order = new List<int>();
        var sums = new Dictionary<int, double>();
        foreach (var t in terms)
        {
            if (sums.TryGetValue(t.Index, out var s))
            {
                sums[t.Index] = s + t.Coefficient;
            }
            else
            {
                sums[t.Index] = t.Coefficient;
                order.Add(t.Index);
            }
        }

        return [.. order.Where(i => sums[i] != 0).Select(i => new Term(i, sums[i]))];
    }
}

/// <summary>What a candidate point violates.</summary>
public sealed record Violation(string Description);
