using Google.OrTools.LinearSolver;

namespace Attune.Optimization.Tests;

public class FormatTests
{
    internal static string Fixture(params string[] parts) => Path.Combine([AppContext.BaseDirectory, "Fixtures", .. parts]);

    /// <summary>A formulation as text that ignores the order of variables, rows and terms.</summary>
    internal static string Canonical(Formulation f)
    {
        static string N(double x) => x.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        string Expr(IEnumerable<Term> terms) => string.Join(" ", terms.Where(t => t.Coefficient != 0)
            .Select(t => (f.Variables[t.Index].Name, t.Coefficient)).OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => $"{N(t.Coefficient)}*{t.Name}"));
        var lines = f.Variables.Select(v => $"var {v.Name} {v.Type} [{N(v.Lower)}, {N(v.Upper)}]")
            .Concat(f.Rows.Select(r => $"row {r.Name}: {N(r.Lower)} <= {Expr(r.Terms)} <= {N(r.Upper)}"))
            .Order(StringComparer.Ordinal).ToList();
        lines.Insert(0, $"{f.Objective.Sense} {Expr(f.Objective.Terms)} + {N(f.Objective.Constant)}");
        return string.Join("\n", lines);
    }

    [Fact]
    public void Wyndor_glass_lp_has_optimum_36_at_2_6()
    {
        var f = LpFormat.Parse("""
            \ Hillier & Lieberman's Wyndor Glass Co.
            Maximize
             Z: 3 x1 + 5 x2
            Subject To
             plant1: x1 <= 4
             plant2: 2 x2 <= 12
             plant3: 3 x1 + 2 x2 <= 18
            End
            """);
        var s = OrToolsSolver.Solve(f);
        Assert.Equal(SolveStatus.Optimal, s.Status);
        Assert.Equal(36, s.Objective, 6);
        Assert.Equal(2, s.X[f.IndexOf("x1")], 6);
        Assert.Equal(6, s.X[f.IndexOf("x2")], 6);
    }

    [Fact]
    public void Diet_style_minimisation_has_optimum_9()
    {
        var f = LpFormat.Parse("min\n cost: 2 x + 3 y\nst\n a: x + y >= 4\n b: x + 3 y >= 6\nend\n");
        var s = OrToolsSolver.Solve(f);
        Assert.Equal(9, s.Objective, 6);
        Assert.Equal(3, s.X[0], 6);
        Assert.Equal(1, s.X[1], 6);
    }

    [Fact]
    public void Integer_program_optimum_4_differs_from_its_relaxation_4_8()
    {
        const string model = "Maximize\n obj: x + y\nSubject To\n c1: -x + y <= 1\n c2: 3 x + 2 y <= 12\n c3: 2 x + 3 y <= 12\n";
        var relaxation = OrToolsSolver.Solve(LpFormat.Parse(model + "End\n"));
        var integer = OrToolsSolver.Solve(LpFormat.Parse(model + "Generals\n x y\nEnd\n"));
        Assert.Equal(4.8, relaxation.Objective, 6);
        Assert.Equal(4, integer.Objective, 6);
        Assert.All(integer.X, v => Assert.Equal(Math.Round(v), v, 6));
    }

    [Theory]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x + y <= 1\n c2: x + y >= 2\nEnd\n", SolveStatus.Infeasible)]
    [InlineData("Maximize\n obj: x + y\nSubject To\n c1: x - y <= 1\nEnd\n", SolveStatus.Unbounded)]
    [InlineData("Minimize\n obj: x\nSubject To\n c1: 2 x = 1\nGenerals\n x\nEnd\n", SolveStatus.Infeasible)]
    [InlineData("Maximize\n obj: x + y\nSubject To\n c1: x - y <= 1\nGenerals\n x y\nEnd\n", SolveStatus.Unbounded)]
    [InlineData("Minimize\n obj: x\nSubject To\n c1: x + y >= 1\nBounds\n x free\nEnd\n", SolveStatus.Unbounded)]
    public void Infeasible_and_unbounded_are_reported_as_such(string lp, SolveStatus expected) =>
        Assert.Equal(expected, OrToolsSolver.Solve(LpFormat.Parse(lp)).Status);

    [Fact]
    public void Lp_reader_handles_comments_both_sides_repeats_ranges_bounds_and_sections()
    {
        var f = LpFormat.Parse("""
            \ a comment line
            MAXIMIZE
             profit: 2 x + 3 y - z \ trailing comment
               + 1.5e0 w + 4
            SUBJECT TO
             rep: x + x + y - 0.5 x <= 10
             both: 3 x + 2 >= y - 4 + z
             rng: -2 <= x - y <= 5
             long: x + y
                   + z >= 1
             -x + 2 y <= 3
            BOUNDS
             -inf <= x <= 8
             y <= 20
             z free
             w >= -1e+2
             u = 3
             0 <= b
            GENERAL
             y
            BINARY
             b
            END
            """);
        Assert.Equal(ObjectiveSense.Maximize, f.Objective.Sense);
        Assert.Equal(4, f.Objective.Constant);
        Assert.Equal(1.5, f.Objective.Terms.Single(t => f.Variables[t.Index].Name == "w").Coefficient);
        var rep = f.Rows.Single(r => r.Name == "rep");
        Assert.Equal(1.5, rep.Terms.Single(t => f.Variables[t.Index].Name == "x").Coefficient);
        var both = f.Rows.Single(r => r.Name == "both");
        Assert.Equal(RowSense.GreaterEqual, both.Sense);
        Assert.Equal(-6, both.Lower); // 3x - y - z >= -4 - 2
        Assert.Equal(-1, both.Terms.Single(t => f.Variables[t.Index].Name == "z").Coefficient);
        var rng = f.Rows.Single(r => r.Name == "rng");
        Assert.Equal((RowSense.Ranged, -2.0, 5.0), (rng.Sense, rng.Lower, rng.Upper));
        Assert.Equal(3, f.Rows.Single(r => r.Name == "long").Terms.Count);
        Assert.Equal(["rep", "both", "rng", "long", "R5"], f.Rows.Select(r => r.Name)); // the unnamed row after 'long' is a row of its own
        Assert.Equal((double.NegativeInfinity, 3.0), (f.Rows[4].Lower, f.Rows[4].Upper));
        Assert.Equal(double.NegativeInfinity, f.Variables[f.IndexOf("x")].Lower);
        Assert.Equal(8, f.Variables[f.IndexOf("x")].Upper);
        Assert.Equal(VariableType.Integer, f.Variables[f.IndexOf("y")].Type);
        Assert.Equal((double.NegativeInfinity, double.PositiveInfinity), (f.Variables[f.IndexOf("z")].Lower, f.Variables[f.IndexOf("z")].Upper));
        Assert.Equal(-100, f.Variables[f.IndexOf("w")].Lower);
        Assert.Equal((3.0, 3.0), (f.Variables[f.IndexOf("u")].Lower, f.Variables[f.IndexOf("u")].Upper));
        Assert.Equal((VariableType.Binary, 0.0, 1.0), (f.Variables[f.IndexOf("b")].Type, f.Variables[f.IndexOf("b")].Lower, f.Variables[f.IndexOf("b")].Upper));
    }

    /// <summary>The model of Fixtures/writers/pulp.{lp,mps} (written by PuLP 2.6), built through OR-Tools' own API.</summary>
    private static Google.OrTools.LinearSolver.Solver OrToolsModel()
    {
        var s = Google.OrTools.LinearSolver.Solver.CreateSolver("CBC");
        var inf = double.PositiveInfinity;
        var x = s.MakeNumVar(0, 4, "x");
        var y = s.MakeNumVar(0, inf, "y");
        var z = s.MakeIntVar(0, 10, "z");
        var b = s.MakeIntVar(0, 1, "b");
        var f = s.MakeNumVar(-inf, inf, "f");
        var o = s.Objective();
        o.SetCoefficient(x, 3);
        o.SetCoefficient(y, 5);
        o.SetCoefficient(z, 2);
        o.SetCoefficient(b, 4);
        o.SetCoefficient(f, -1);
        o.SetMaximization();
        void Row(string name, double lo, double hi, params (Google.OrTools.LinearSolver.Variable V, double C)[] terms)
        {
            var c = s.MakeConstraint(lo, hi, name);
            foreach (var (v, k) in terms)
            {
                c.SetCoefficient(v, k);
            }
        }

        Row("plant2", -inf, 12, (y, 2));
        Row("plant3", -inf, 18, (x, 3), (y, 2), (z, 1));
        Row("mix", 1, inf, (x, 1), (z, 1), (b, -2));
        Row("link", -2, -2, (f, 1), (y, -1));
        Row("cap", -inf, 7.5, (x, 1), (z, -1), (f, 1));
        return s;
    }

    [Fact]
    public void Pulp_and_or_tools_files_of_the_same_model_parse_to_the_same_formulation()
    {
        using var model = OrToolsModel();
        var ortoolsLp = model.ExportModelAsLpFormat(false);
        var ortoolsMps = model.ExportModelAsMpsFormat(false, false);
        var ortoolsFixedMps = model.ExportModelAsMpsFormat(true, false);
        var pulpLp = FormulationFile.Read(Fixture("writers", "pulp.lp"));
        var pulpMps = FormulationFile.Read(Fixture("writers", "pulp.mps"));

        var reference = Canonical(pulpLp).Replace("Integer [0, 1]", "Binary [0, 1]", StringComparison.Ordinal);
        // OR-Tools has no binary type: b is an integer in [0, 1]; compare with binaries read as such.
        string Normal(Formulation f) => Canonical(f).Replace("var b Integer [0, 1]", "var b Binary [0, 1]", StringComparison.Ordinal)
            .Replace("row obj", "row obj", StringComparison.Ordinal);
        Assert.Equal(reference, Normal(pulpMps));
        Assert.Equal(reference, Normal(LpFormat.Parse(ortoolsLp, "ortools.lp")));
        Assert.Equal(reference, Normal(MpsFormat.Parse(ortoolsMps, "ortools.mps")));
        Assert.Equal(reference, Normal(MpsFormat.Parse(ortoolsFixedMps, "ortools-fixed.mps", MpsFlavor.Auto)));
        Assert.Equal(Google.OrTools.LinearSolver.Solver.ResultStatus.OPTIMAL, model.Solve());
        Assert.Equal(model.Objective().Value(), OrToolsSolver.Solve(pulpLp).Objective, 6);
    }

    public static TheoryData<string, bool> Families() => PipelineTests.Families();

    [Theory]
    [MemberData(nameof(Families))]
    public void Generated_instances_round_trip_through_lp_and_free_mps(string family, bool milp)
    {
        var f = BaseInstances.Generate(family, milp, 5);
        var viaLp = LpFormat.Parse(LpFormat.Write(f));
        var viaMps = MpsFormat.Parse(MpsFormat.Write(f));
        Assert.Equal(Canonical(f), Canonical(viaLp));
        Assert.Equal(Canonical(f), Canonical(viaMps));
        Assert.Equal(OrToolsSolver.Solve(f).Objective, OrToolsSolver.Solve(viaMps).Objective, 6);
    }

    [Fact]
    public void Fixed_mps_round_trips_names_with_spaces_ranges_and_every_bound_type()
    {
        var b = new FormulationBuilder("fixed");
        var x = b.Add("x 1", VariableType.Continuous, -5, 5);
        var y = b.Add("y", VariableType.Integer, 1, 9);
        var z = b.Add("z", VariableType.Binary);
        var w = b.Add("w", VariableType.Continuous, double.NegativeInfinity, double.PositiveInfinity);
        var v = b.Add("v", VariableType.Continuous, 2, 2);
        var m = b.Add("m", VariableType.Continuous, double.NegativeInfinity, 3);
        b.Le("row 1", [new Term(x, 1), new Term(y, 2)], 10);
        b.Row("rng", [new Term(y, 1), new Term(z, 3), new Term(w, 1)], -1, 4);
        b.Eq("eq", [new Term(w, 1), new Term(v, -1), new Term(m, 1)], 0.25);
        b.Ge("ge", [new Term(x, 1), new Term(m, 1)], -7);
        b.Objective(ObjectiveSense.Maximize, [new Term(x, 1), new Term(y, -2), new Term(z, 0.5)], 3, "profit");
        var f = b.Build();
        var text = MpsFormat.Write(f, fixedFormat: true);
        Assert.Contains(" L  row 1", text, StringComparison.Ordinal);
        var back = MpsFormat.Parse(text, "f.mps", MpsFlavor.Fixed);
        Assert.Equal(Canonical(f), Canonical(back));
        Assert.Equal(Canonical(f), Canonical(MpsFormat.Parse(text, "f.mps"))); // auto falls back to fixed columns
    }

    [Fact]
    public void Fixed_mps_writer_refuses_names_longer_than_eight_characters()
    {
        var f = BaseInstances.Generate("diet", false, 1);
        Assert.Throws<ArgumentException>(() => MpsFormat.Write(f, fixedFormat: true));
    }

    [Theory]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x + * y <= 4\nEnd\n", 4, 10)]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x + y 4\nEnd\n", 4, 12)]
    [InlineData("Minimize\n obj: x + y\nSubject To\n c1: x + y <=\nEnd\n", 4, 14)]
    [InlineData("Minimize\n obj: 2 x\nBounds\n x <= abc\nEnd\n", 4, 7)]
    [InlineData("Minimize\n obj: 2 x\nSubject To\n c1: x >= 1\n c1: x <= 3\nEnd\n", 5, 2)]
    [InlineData("x + y <= 3\n", 1, 1)]
    [InlineData("Minimize\n obj: x ^ 2\nEnd\n", 2, 9)]
    [InlineData("Minimize\n obj: x\nEnd\nextra\n", 4, 1)]
    [InlineData("Minimize\n obj: 1.2.3 x\nEnd\n", 2, 7)]
    public void Malformed_lp_files_fail_with_line_and_column(string text, int line, int column)
    {
        var ex = Assert.Throws<FormulationParseException>(() => LpFormat.Parse(text, "bad.lp"));
        Assert.Equal((line, column), (ex.SourceLine, ex.Column));
        Assert.StartsWith($"bad.lp:{line}:{column}: ", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("NAME t\nROWS\n N obj\n X c1\nCOLUMNS\n x obj 1\nENDATA\n", 4, 2)]
    [InlineData("NAME t\nROWS\n N obj\n L c1\nCOLUMNS\n x obj 1 c2 3\nENDATA\n", 6, 10)]
    [InlineData("NAME t\nROWS\n N obj\n L c1\nCOLUMNS\n x obj one\nENDATA\n", 6, 8)]
    [InlineData("NAME t\nROWS\n N obj\n L c1\nCOLUMNS\n x c1 1\nRHS\n RHS c1 1\nBOUNDS\n XX BND x 1\nENDATA\n", 10, 2)]
    [InlineData("NAME t\nROWS\n N obj\n L c1\nCOLUMNS\n x c1 1\nRHS\n RHS c1 1\nBOUNDS\n UP BND y 1\nENDATA\n", 10, 9)]
    [InlineData("NAME t\nROWS\n N obj\nCOLUMNZ\nENDATA\n", 4, 1)]
    public void Malformed_mps_files_fail_with_line_and_column(string text, int line, int column)
    {
        var ex = Assert.Throws<FormulationParseException>(() => MpsFormat.Parse(text, "bad.mps", MpsFlavor.Free));
        Assert.Equal((line, column), (ex.SourceLine, ex.Column));
        Assert.StartsWith($"bad.mps:{line}:{column}: ", ex.Message, StringComparison.Ordinal);
    }
}
