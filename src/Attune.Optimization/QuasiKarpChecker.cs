using System.Text.Json.Serialization;
using Attune.Core.Randomness;

namespace Attune.Optimization;

/// <summary>What the checker concluded and why.</summary>
public sealed record CheckOutcome(
    [property: JsonPropertyName("equivalent")] bool Equivalent,
    [property: JsonPropertyName("verdict")] string Verdict,
    [property: JsonPropertyName("reason")] string Reason,
    [property: JsonPropertyName("original_objective")] double? OriginalObjective,
    [property: JsonPropertyName("mapped_objective")] double? MappedObjective,
    [property: JsonPropertyName("optima_checked")] int OptimaChecked);

/// <summary>Options of <see cref="QuasiKarpChecker"/>.</summary>
public sealed record CheckerOptions
{
    /// <summary>Alternative optima of α′ checked after the first (each must map to an optimum of α).</summary>
    public int AlternativeOptima { get; init; } = 3;

    public double FeasibilityTolerance { get; init; } = 1e-5;

    /// <summary>Relative tolerance on objective values: |a − b| ≤ tol·(1 + |b|).</summary>
    public double ObjectiveTolerance { get; init; } = 1e-6;

    public int Seed { get; init; } = Seeds.Default;

    /// <summary>Time limit of each alternative-optimum solve; one that runs out is skipped.</summary>
    public double AlternativeTimeLimitSeconds { get; init; } = 2;
}

/// <summary>
/// Quasi-Karp equivalence under a given linear map f: solve α′, map its optimum through f, check that
/// the image is feasible for α (bounds, rows, integrality) and attains α's optimal value; then do the
/// same for K alternative optima of α′. The alternatives come from perturbed objectives made exact:
/// α′'s objective is fixed at its optimum by an extra row and a random direction is optimised, so
/// each is an optimum of α′ and different optimal vertices appear wherever α′ has several. That is
/// what catches a feasibility-only formulation whose solver happened to return the right vertex once.
/// </summary>
public static class QuasiKarpChecker
{
    public static CheckOutcome Check(Formulation original, Formulation transformed, LinearMap? map, CheckerOptions? options = null,
        SolveResult? originalSolution = null, SolveResult? transformedSolution = null)
    {
        options ??= new CheckerOptions();
        var a = originalSolution ?? OrToolsSolver.Solve(original);
        var b = transformedSolution ?? OrToolsSolver.Solve(transformed);
        if (!a.IsOptimal || !b.IsOptimal)
        {
            return StatusVerdict(a, b);
        }

        if (map is null)
        {
            return new CheckOutcome(false, "no-map", "no linear map was found from the transformed formulation's variables to the original's", a.Objective, null, 0);
        }

        var first = Verify(original, transformed, map, b.X, a.Objective, options, "the transformed formulation's optimum");
        if (first.Failure is not null)
        {
            return new CheckOutcome(false, first.Verdict!, first.Failure, a.Objective, first.Value, 1);
        }

        var checkedOptima = 1;
        var random = Seeds.Create(options.Seed, 0xE0);
        var fix = FixObjective(transformed, b.Objective, options.ObjectiveTolerance * 1e-3);

        // Alternatives are sought inside a box around the first optimum: a random direction on an
        // unbounded optimal face (x = x⁺ − x⁻ lets both parts grow) would otherwise be unbounded, which
        // a MILP solver may take its whole time limit to prove. Every point found is still an optimum
        // of α′; the box only limits how far away the alternatives can be.
        var radius = 10 * (1 + b.X.Select(Math.Abs).DefaultIfEmpty(0).Max());
        var boxed = transformed.With(variables: [.. transformed.Variables.Select(v => v with { Lower = Math.Max(v.Lower, -radius), Upper = Math.Min(v.Upper, radius) })]);
        var weights = new double[transformed.Variables.Count];
        for (var k = 0; k < options.AlternativeOptima; k++)
        {
            // Even k: a fresh random direction (no zero weights); odd k: its opposite, which reaches
            // the far end of the optimal face.
            for (var j = 0; j < weights.Length; j++)
            {
                weights[j] = k % 2 == 0 ? random.Next(1, 11) * (random.Next(2) == 0 ? -1 : 1) : -weights[j];
            }

            var direction = new Objective(ObjectiveSense.Minimize, [.. weights.Select((w, j) => new Term(j, w))]);
            var alt = OrToolsSolver.Solve(boxed, direction, fix, options.AlternativeTimeLimitSeconds);
            if (!alt.IsOptimal)
            {
                continue; // an unbounded direction on the optimal face, or numerical trouble: try the next one
            }

            // Is it really optimal for α′ (within tolerance)?
            if (Math.Abs(transformed.Objective.Value(alt.X) - b.Objective) > 10 * options.ObjectiveTolerance * (1 + Math.Abs(b.Objective)))
            {
                continue;
            }

            checkedOptima++;
            var r = Verify(original, transformed, map, alt.X, a.Objective, options, $"alternative optimum {k + 1} of the transformed formulation");
            if (r.Failure is not null)
            {
                return new CheckOutcome(false, r.Verdict!, r.Failure, a.Objective, first.Value, checkedOptima);
            }
        }

        return new CheckOutcome(true, "equivalent",
            $"all {checkedOptima} optima of the transformed formulation map to optima of the original (objective {Formulation.Fmt(a.Objective)})",
            a.Objective, first.Value, checkedOptima);
    }

    /// <summary>A row that keeps α′'s objective within tolerance of its optimum.</summary>
    public static Row[] FixObjective(Formulation f, double optimum, double tolerance)
    {
        if (f.Objective.Terms.Count == 0)
        {
            return [];
        }

        var slack = tolerance * (1 + Math.Abs(optimum));
        var target = optimum - f.Objective.Constant;
        return f.Objective.Sense == ObjectiveSense.Minimize
            ? [new Row("__objective_fixed", f.Objective.Terms, double.NegativeInfinity, target + slack)]
            : [new Row("__objective_fixed", f.Objective.Terms, target - slack, double.PositiveInfinity)];
    }

    private static (string? Verdict, string? Failure, double? Value) Verify(Formulation original, Formulation transformed, LinearMap map, double[] xPrime,
        double optimum, CheckerOptions options, string which)
    {
        var x = map.Apply(original, transformed, xPrime);
        var violation = original.FindViolation(x, options.FeasibilityTolerance);
        var value = original.Objective.Value(x);
        if (violation is not null)
        {
            return ("mapped-infeasible", $"the image of {which} is infeasible for the original: {violation.Description}", value);
        }

        if (Math.Abs(value - optimum) > options.ObjectiveTolerance * (1 + Math.Abs(optimum)))
        {
            return ("mapped-suboptimal", $"the image of {which} is feasible but has objective {Formulation.Fmt(value)}, not the original's optimum {Formulation.Fmt(optimum)}", value);
        }

        return (null, null, value);
    }

    private static CheckOutcome StatusVerdict(SolveResult a, SolveResult b)
    {
        string Word(SolveStatus s) => s.ToString().ToLowerInvariant();
        if (a.Status == b.Status && a.Status is SolveStatus.Infeasible or SolveStatus.Unbounded)
        {
            return new CheckOutcome(true, $"both-{Word(a.Status)}",
                $"both formulations are {Word(a.Status)}: neither has an optimum, so the definition holds vacuously", null, null, 0);
        }

        if (a.Status is SolveStatus.Failed || b.Status is SolveStatus.Failed)
        {
            return new CheckOutcome(false, "solver-failed", $"the solver failed (original: {Word(a.Status)}, transformed: {Word(b.Status)}); equivalence was not decided", null, null, 0);
        }

        if (a.Status is SolveStatus.LimitReached || b.Status is SolveStatus.LimitReached)
        {
            return new CheckOutcome(false, "undecided",
                $"the solver ran out of time before proving optimality (original: {Word(a.Status)}, transformed: {Word(b.Status)}); equivalence was not decided, which is not evidence against it",
                a.IsOptimal ? a.Objective : null, null, 0);
        }

        return a.IsOptimal
            ? new CheckOutcome(false, $"transformed-{Word(b.Status)}", $"the original has an optimum ({Formulation.Fmt(a.Objective)}) but the transformed formulation is {Word(b.Status)}", a.Objective, null, 0)
            : new CheckOutcome(false, $"original-{Word(a.Status)}", $"the original formulation is {Word(a.Status)} but the transformed one is {Word(b.Status)}", null, null, 0);
    }
}
