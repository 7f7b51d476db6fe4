namespace Attune.Optimization.Tests;

public class CheckerTests
{
    private const string Interval = "Minimize\n obj: x + y\nSubject To\n c: x + y >= 2\nBounds\n x <= 5\n y <= 5\nEnd\n";

    [Fact]
    public void A_feasibility_version_can_fool_one_optimum_but_not_several()
    {
        var original = LpFormat.Parse("Minimize\n obj: x\nSubject To\n c: x + 0 y >= 0\nBounds\n 2 <= x <= 5\n y <= 1\nEnd\n");
        var feasibility = original.With(objective: new Objective(ObjectiveSense.Minimize, []));
        var identity = LinearMap.Identity(original);

        // The solver returns x at its lower bound, 2, which happens to be the original's optimum.
        var once = QuasiKarpChecker.Check(original, feasibility, identity, new CheckerOptions { AlternativeOptima = 0 });
        Assert.True(once.Equivalent);

        var several = QuasiKarpChecker.Check(original, feasibility, identity, new CheckerOptions { AlternativeOptima = 3 });
        Assert.False(several.Equivalent);
        Assert.Equal("mapped-suboptimal", several.Verdict);
        Assert.Contains("alternative optimum", several.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Every_optimum_of_a_face_must_map_to_an_optimum()
    {
        // α′ = α: every alternative optimum maps to itself, so the identity passes on a whole optimal face.
        var f = LpFormat.Parse(Interval);
        var outcome = QuasiKarpChecker.Check(f, f, LinearMap.Identity(f));
        Assert.True(outcome.Equivalent, outcome.Reason);
        Assert.Equal(4, outcome.OptimaChecked);
        Assert.Equal(2, outcome.OriginalObjective!.Value, 9);
    }

    [Fact]
    public void A_map_to_zero_is_not_a_constant_map_onto_the_optimum()
    {
        var f = LpFormat.Parse(Interval);
        var zero = new LinearMap(new Dictionary<string, IReadOnlyDictionary<string, double>>());
        var outcome = QuasiKarpChecker.Check(f, f, zero);
        Assert.False(outcome.Equivalent);
        Assert.Equal("mapped-infeasible", outcome.Verdict);
    }

    [Fact]
    public void Infeasible_and_unbounded_inputs_get_their_own_verdicts()
    {
        var ok = LpFormat.Parse(Interval);
        var infeasible = LpFormat.Parse("Minimize\n obj: x\nSubject To\n c1: x >= 3\n c2: x <= 1\nEnd\n");
        var unbounded = LpFormat.Parse("Maximize\n obj: x + y\nSubject To\n c: x - y <= 1\nEnd\n");
        Assert.Equal("both-infeasible", QuasiKarpChecker.Check(infeasible, infeasible, null).Verdict);
        Assert.True(QuasiKarpChecker.Check(infeasible, infeasible, null).Equivalent);
        Assert.Equal("transformed-infeasible", QuasiKarpChecker.Check(ok, infeasible, null).Verdict);
        Assert.Equal("original-unbounded", QuasiKarpChecker.Check(unbounded, ok, null).Verdict);
        Assert.Equal("transformed-unbounded", QuasiKarpChecker.Check(ok, unbounded, null).Verdict);
        Assert.False(QuasiKarpChecker.Check(ok, unbounded, null).Equivalent);
    }

    [Fact]
    public void Structural_finder_recovers_the_rescaling_factors_and_the_split_signs()
    {
        var f = BaseInstances.Generate("facility", true, 4);
        var rescaled = Transformations.Apply("rescale", f, new Random(1))!;
        var found = StructuralMapFinder.Find(f, rescaled.Transformed);
        foreach (var (v, combination) in rescaled.TrueMap!.Entries)
        {
            Assert.Equal(combination.Single(), found.Entries[v].Single());
        }

        var split = Transformations.Apply("split-diff", f, new Random(2))!;
        var foundSplit = StructuralMapFinder.Find(f, split.Transformed);
        foreach (var (v, combination) in split.TrueMap!.Entries)
        {
            Assert.Equal(combination.OrderBy(p => p.Key, StringComparer.Ordinal), foundSplit.Entries[v].OrderBy(p => p.Key, StringComparer.Ordinal));
        }
    }

    [Fact]
    public void Structural_finder_proposes_the_identity_for_a_loose_formulation_and_the_checker_rejects_it()
    {
        var f = BaseInstances.Generate("production", false, 9);
        var loose = Transformations.Apply("loose", f, new Random(3))!;
        Assert.False(loose.Equivalent);
        var found = StructuralMapFinder.Find(f, loose.Transformed);
        Assert.All(f.Variables, v => Assert.Equal(1, found.Entries[v.Name][v.Name]));
        var outcome = QuasiKarpChecker.Check(f, loose.Transformed, found);
        Assert.False(outcome.Equivalent);
        Assert.Equal("mapped-infeasible", outcome.Verdict);
    }

    [Fact]
    public void Structural_finder_matches_renamed_rows_and_variables_by_their_columns()
    {
        var f = BaseInstances.Generate("transportation", true, 6);
        var renamed = Transformations.Apply("rename", f, new Random(4))!;
        var found = StructuralMapFinder.Find(f, renamed.Transformed);
        foreach (var (v, combination) in renamed.TrueMap!.Entries)
        {
            Assert.Equal(combination.Single(), found.Entries[v].Single());
        }
    }

    [Fact]
    public void Baselines_behave_as_the_paper_describes_on_single_pairs()
    {
        var f = BaseInstances.Generate("diet", false, 2);
        var rescaled = Transformations.Apply("rescale", f, new Random(5))!.Transformed;
        var slack = Transformations.Apply("slack", f, new Random(5))!.Transformed;
        var renamed = Transformations.Apply("rename", f, new Random(5))!.Transformed;
        Assert.False(Baselines.OptimalValue(f, rescaled)); // the objective's scale changed the value
        Assert.True(Baselines.OptimalValue(f, slack));
        Assert.False(Baselines.WeisfeilerLehman(f, slack)); // new nodes
        Assert.True(Baselines.WeisfeilerLehman(f, renamed)); // an isomorphic graph
        Assert.True(Baselines.DeclarationMatch(f, f.With(rows: [.. f.Rows.Reverse()])));
        Assert.False(Baselines.DeclarationMatch(f, renamed));
    }
}

public class SolverFallbackTests
{
    // diet-milp-0003 with three integer variables split as x = x⁺ − x⁻ (generated by
    // 'attune equiv generate' at seed 20261127): CBC cannot close its branch-and-bound tree.
    private static Formulation Stall(string file) => FormulationFile.Read(FormatTests.Fixture("stall", file));

    [Fact]
    public void A_MILP_that_stalls_CBC_is_finished_by_the_fallback_engine()
    {
        var result = OrToolsSolver.Solve(Stall("transformed.lp"), timeLimitSeconds: 10);
        Assert.Equal(SolveStatus.Optimal, result.Status);
        Assert.Equal("CBC->SCIP", result.Engine);
        Assert.Equal(OrToolsSolver.Solve(Stall("original.lp")).Objective, result.Objective, 6);
    }

    [Fact]
    public async Task The_split_pair_that_stalled_CBC_is_verified_equivalent()
    {
        var report = await EquivalenceChecker.CheckAsync(Stall("original.lp"), Stall("transformed.lp"), "structural");
        Assert.True(report.Equivalent, report.Reason);
        Assert.Equal("equivalent", report.Verdict);
    }

    [Fact]
    public void An_unfinished_solve_is_undecided_not_a_refutation()
    {
        var original = Stall("original.lp");
        var transformed = Stall("transformed.lp");
        var a = OrToolsSolver.Solve(original);
        var unfinished = new SolveResult(SolveStatus.LimitReached, double.NaN, [], "CBC");
        var outcome = QuasiKarpChecker.Check(original, transformed, StructuralMapFinder.Find(original, transformed), null, a, unfinished);
        Assert.False(outcome.Equivalent);
        Assert.Equal("undecided", outcome.Verdict);
        Assert.Contains("not evidence against it", outcome.Reason, StringComparison.Ordinal);
        Assert.Equal(a.Objective, outcome.OriginalObjective);
    }
}
