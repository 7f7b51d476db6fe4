using Attune.Core.Randomness;

namespace Attune.Optimization.Tests;

public class PipelineTests
{
    public static TheoryData<string, bool> Families()
    {
        var data = new TheoryData<string, bool>();
        foreach (var f in BaseInstances.Families)
        {
            data.Add(f, false);
            data.Add(f, true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void Every_transformation_true_map_passes_and_structural_finder_agrees_with_the_label(string family, bool milp)
    {
        var seed = 11;
        var f = BaseInstances.Generate(family, milp, seed);
        Assert.InRange(f.Variables.Count, 10, 60);
        var failures = new List<string>();
        foreach (var name in Transformations.All)
        {
            var rng = Seeds.Create(seed, Transformations.All.ToList().IndexOf(name));
            var pair = Transformations.Apply(name, f, rng, () => BaseInstances.Generate(family, milp, seed + 1000));
            if (pair is null)
            {
                continue;
            }

            if (pair.TrueMap is not null)
            {
                var truth = QuasiKarpChecker.Check(f, pair.Transformed, pair.TrueMap);
                if (!truth.Equivalent)
                {
                    failures.Add($"{f.Name} {name}: true map fails: {truth.Reason}");
                }
            }

            var found = StructuralMapFinder.Find(f, pair.Transformed);
            var outcome = QuasiKarpChecker.Check(f, pair.Transformed, found);
            if (outcome.Equivalent != pair.Equivalent)
            {
                failures.Add($"{f.Name} {name}: structural says {outcome.Equivalent} ({outcome.Reason}); map {found}");
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }
}
