using Google.OrTools.LinearSolver;
using OrSolver = Google.OrTools.LinearSolver.Solver;

namespace Attune.Optimization;

/// <summary>How a solve ended.</summary>
public enum SolveStatus
{
    Optimal,
    Infeasible,
    Unbounded,
    Failed,

    /// <summary>The time limit ran out before optimality was proved.</summary>
    LimitReached,
}

/// <summary>A solve's outcome: status, objective value and a point (when optimal).</summary>
public sealed record SolveResult(SolveStatus Status, double Objective, double[] X, string Engine)
{
    public bool IsOptimal => Status == SolveStatus.Optimal;
}

/// <summary>
/// Solves formulations with Google OR-Tools: GLOP for LPs, CBC (default; SCIP or CP-SAT by <see cref="MilpEngine"/>) for MILPs with gap 0. Infeasible and
/// unbounded are told apart by a second solve with a zero objective where the engine leaves them
/// ambiguous.
/// </summary>
public static class OrToolsSolver
{
    /// <summary>The OR-Tools engine for mixed-integer programs.</summary>
    public static string MilpEngine { get; set; } = "CBC";

    /// <summary>
    /// The engine a MILP solve falls back to when <see cref="MilpEngine"/> runs out of its share of the
    /// time limit (null: no fallback). CBC is fast on small MILPs but can stall on formulations whose
    /// integer variables are split as x = x⁺ − x⁻ (unbounded, symmetric pairs its branching cannot
    /// close); SCIP solves those in well under a second.
    /// </summary>
    public static string? MilpFallbackEngine { get; set; } = "SCIP";

    /// <summary>
    /// The most time <see cref="MilpEngine"/> gets when a fallback is set (at most half the solve's
    /// limit); the fallback gets the rest. On the generated instances CBC either proves optimality
    /// within milliseconds or stalls for good.
    /// </summary>
    public static double PrimaryLimitSeconds { get; set; } = 1;

    /// <summary>Solves <paramref name="f"/>; with <paramref name="objective"/>, optimises that one instead; <paramref name="extraRows"/> are added.</summary>
    public static SolveResult Solve(Formulation f, Objective? objective = null, IReadOnlyList<Row>? extraRows = null, double timeLimitSeconds = 60)
    {
        var result = SolveOnce(f, objective ?? f.Objective, extraRows, timeLimitSeconds);
        if (result.Status is not (SolveStatus.Optimal or SolveStatus.LimitReached))
        {
            // Ambiguous or "infeasible or unbounded": is there any feasible point at all?
            var feasibility = SolveOnce(f, new Objective(ObjectiveSense.Minimize, []), extraRows, timeLimitSeconds);
            if (feasibility.Status == SolveStatus.Infeasible)
            {
                return result with { Status = SolveStatus.Infeasible };
            }

            if (feasibility.Status == SolveStatus.Optimal && result.Status != SolveStatus.Unbounded)
            {
                // Feasible but without an optimum: unbounded (engines may call that dual infeasible).
                return result with { Status = SolveStatus.Unbounded };
            }
        }

        return result;
    }

    private static SolveResult SolveOnce(Formulation f, Objective objective, IReadOnlyList<Row>? extraRows, double timeLimitSeconds)
    {
        if (!f.IsMixedInteger)
        {
            return SolveWith("GLOP", f, objective, extraRows, timeLimitSeconds);
        }

        var fallback = MilpFallbackEngine;
        if (fallback is null || string.Equals(fallback, MilpEngine, StringComparison.OrdinalIgnoreCase))
        {
            return SolveWith(MilpEngine, f, objective, extraRows, timeLimitSeconds);
        }

        var primary = Math.Min(PrimaryLimitSeconds, timeLimitSeconds / 2);
        var first = SolveWith(MilpEngine, f, objective, extraRows, primary);
        if (first.Status != SolveStatus.LimitReached)
        {
            return first;
        }

        var second = SolveWith(fallback, f, objective, extraRows, timeLimitSeconds - primary);
        return second with { Engine = $"{MilpEngine}->{fallback}" };
    }

    private static SolveResult SolveWith(string engine, Formulation f, Objective objective, IReadOnlyList<Row>? extraRows, double timeLimitSeconds)
    {
        using var solver = OrSolver.CreateSolver(engine) ?? throw new InvalidOperationException($"OR-Tools has no {engine} solver");
        solver.SetTimeLimit((long)(timeLimitSeconds * 1000));
        var inf = double.PositiveInfinity;
        var vars = new Google.OrTools.LinearSolver.Variable[f.Variables.Count];
        for (var i = 0; i < vars.Length; i++)
        {
            var v = f.Variables[i];
            vars[i] = solver.MakeVar(
                double.IsNegativeInfinity(v.Lower) ? -inf : v.Lower,
                double.IsPositiveInfinity(v.Upper) ? inf : v.Upper,
                v.IsInteger,
                "v" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        void AddRow(Row r)
        {
            var c = solver.MakeConstraint(double.IsNegativeInfinity(r.Lower) ? -inf : r.Lower, double.IsPositiveInfinity(r.Upper) ? inf : r.Upper);
            foreach (var t in r.Terms)
            {
                c.SetCoefficient(vars[t.Index], c.GetCoefficient(vars[t.Index]) + t.Coefficient);
            }
        }

        foreach (var r in f.Rows)
        {
            AddRow(r);
        }

        if (extraRows is not null)
        {
            foreach (var r in extraRows)
            {
                AddRow(r);
            }
        }

        var obj = solver.Objective();
        foreach (var t in objective.Terms)
        {
            obj.SetCoefficient(vars[t.Index], obj.GetCoefficient(vars[t.Index]) + t.Coefficient);
        }

        obj.SetOffset(objective.Constant);
        if (objective.Sense == ObjectiveSense.Maximize)
        {
            obj.SetMaximization();
        }
        else
        {
            obj.SetMinimization();
        }

        using var parameters = new MPSolverParameters();
        if (f.IsMixedInteger)
        {
            parameters.SetDoubleParam(MPSolverParameters.DoubleParam.RELATIVE_MIP_GAP, 0);
            if (engine == "SCIP")
            {
                solver.SetSolverSpecificParametersAsString("limits/absgap = 0\n");
            }
        }

        var status = solver.Solve(parameters);
        var mapped = status switch
        {
            OrSolver.ResultStatus.OPTIMAL => SolveStatus.Optimal,
            OrSolver.ResultStatus.INFEASIBLE => SolveStatus.Infeasible,
            OrSolver.ResultStatus.UNBOUNDED => SolveStatus.Unbounded,
            OrSolver.ResultStatus.FEASIBLE or OrSolver.ResultStatus.NOT_SOLVED => SolveStatus.LimitReached,
            _ => SolveStatus.Failed,
        };
        if (mapped != SolveStatus.Optimal)
        {
            return new SolveResult(mapped, double.NaN, [], engine);
        }

        var x = new double[vars.Length];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = vars[i].SolutionValue();
        }

        return new SolveResult(SolveStatus.Optimal, obj.Value(), x, engine);
    }
}
