using System.Globalization;
using Attune.Core.Randomness;

namespace Attune.Optimization;

/// <summary>
/// Realistic small problems from classic families, LP or MILP, 10–60 variables, with random but
/// solvable data (an instance whose solve is not optimal is drawn again).
/// </summary>
public static class BaseInstances
{
    public static readonly IReadOnlyList<string> Families =
    [
        "production", "diet", "blending", "transportation", "assignment",
        "knapsack", "facility", "setcover", "scheduling", "staffing",
    ];

    /// <summary>The <paramref name="count"/> first instances of the round-robin over families × {LP, MILP}.</summary>
    public static IEnumerable<Formulation> Generate(int count, int seed)
    {
        for (var k = 0; k < count; k++)
        {
            var family = Families[k / 2 % Families.Count];
            var milp = k % 2 == 1;
            yield return Generate(family, milp, Seeds.Derive(seed, k), $"{family}-{(milp ? "milp" : "lp")}-{k:D4}");
        }
    }

    /// <summary>One instance of <paramref name="family"/>; the same seed gives the same instance.</summary>
    public static Formulation Generate(string family, bool milp, int seed, string? name = null)
    {
        name ??= $"{family}-{(milp ? "milp" : "lp")}";
        for (var attempt = 0; attempt < 50; attempt++)
        {
            var rng = Seeds.Create(seed, attempt);
            var f = Build(family, milp, rng, name);
            if (OrToolsSolver.Solve(f).IsOptimal)
            {
                return f;
            }
        }

        throw new InvalidOperationException($"no solvable {family} instance for seed {seed}");
    }

    private static string N(string prefix, params int[] ix) => prefix + string.Join("_", ix.Select(i => i.ToString(CultureInfo.InvariantCulture)));

    private static Formulation Build(string family, bool milp, Random r, string name)
    {
        var b = new FormulationBuilder(name);
        var intType = milp ? VariableType.Integer : VariableType.Continuous;
        var binType = milp ? VariableType.Binary : VariableType.Continuous;
        switch (family)
        {
            case "production":
            {
                int n = r.Next(10, 31), m = r.Next(4, 9);
                var x = new int[n];
                var demand = new int[n];
                for (var j = 0; j < n; j++)
                {
                    demand[j] = r.Next(5, 60);
                    x[j] = b.Add(N("make", j), intType, 0, demand[j]);
                }

                for (var i = 0; i < m; i++)
                {
                    var a = Enumerable.Range(0, n).Select(_ => (double)r.Next(1, 10)).ToArray();
                    var cap = Math.Round(0.35 * Enumerable.Range(0, n).Sum(j => a[j] * demand[j]));
                    b.Le(N("resource", i), Enumerable.Range(0, n).Select(j => new Term(x[j], a[j])), cap);
                }

                b.Objective(ObjectiveSense.Maximize, Enumerable.Range(0, n).Select(j => new Term(x[j], r.Next(3, 40))), 0, "profit");
                break;
            }

            case "diet":
            {
                int n = r.Next(10, 31), k = r.Next(4, 9);
                var x = Enumerable.Range(0, n).Select(j => b.Add(N("serve", j), intType, 0, 10)).ToArray();
                for (var i = 0; i < k; i++)
                {
                    var a = Enumerable.Range(0, n).Select(_ => r.NextDouble() < 0.7 ? (double)r.Next(1, 30) : 0).ToArray();
                    var need = Math.Round(0.15 * a.Sum() * 10 / 3);
                    b.Ge(N("nutrient", i), Enumerable.Range(0, n).Where(j => a[j] != 0).Select(j => new Term(x[j], a[j])), need);
                }

                b.Objective(ObjectiveSense.Minimize, x.Select(j => new Term(j, Math.Round(0.5 + r.NextDouble() * 9.5, 2))), 0, "cost");
                break;
            }

            case "blending":
            {
                int n = r.Next(10, 31), q = r.Next(3, 7);
                var total = r.Next(50, 200);
                var x = Enumerable.Range(0, n).Select(j => b.Add(N("use", j), intType, 0, r.Next(total / 4, total))).ToArray();
                b.Eq("batch", x.Select(j => new Term(j, 1)), total);
                for (var i = 0; i < q; i++)
                {
                    var a = Enumerable.Range(0, n).Select(_ => (double)r.Next(0, 100)).ToArray();
                    var mean = a.Average();
                    var lo = Math.Round((mean - 15) * total);
                    var hi = Math.Round((mean + 20) * total);
                    b.Row(N("quality", i), Enumerable.Range(0, n).Select(j => new Term(x[j], a[j])), lo, hi);
                }

                b.Objective(ObjectiveSense.Minimize, x.Select(j => new Term(j, r.Next(2, 50))), 0, "cost");
                break;
            }

            case "transportation":
            {
                int s = r.Next(3, 7), t = r.Next(3, 9);
                var demand = Enumerable.Range(0, t).Select(_ => r.Next(10, 80)).ToArray();
                var supply = Enumerable.Range(0, s).Select(_ => (int)Math.Ceiling(demand.Sum() * 1.4 / s)).ToArray();
                var x = new int[s, t];
                for (var i = 0; i < s; i++)
                {
                    for (var j = 0; j < t; j++)
                    {
                        x[i, j] = b.Add(N("ship", i, j), intType, 0, supply[i]);
                    }
                }

                for (var i = 0; i < s; i++)
                {
                    b.Le(N("supply", i), Enumerable.Range(0, t).Select(j => new Term(x[i, j], 1)), supply[i]);
                }

                for (var j = 0; j < t; j++)
                {
                    b.Ge(N("demand", j), Enumerable.Range(0, s).Select(i => new Term(x[i, j], 1)), demand[j]);
                }

                b.Objective(ObjectiveSense.Minimize, Enumerable.Range(0, s * t).Select(k => new Term(x[k / t, k % t], r.Next(1, 30))), 0, "cost");
                break;
            }

            case "assignment":
            {
                int a = r.Next(3, 7), t = r.Next(4, 9);
                var x = new int[a, t];
                for (var i = 0; i < a; i++)
                {
                    for (var j = 0; j < t; j++)
                    {
                        x[i, j] = b.Add(N("assign", i, j), binType, 0, 1);
                    }
                }

                for (var j = 0; j < t; j++)
                {
                    b.Eq(N("task", j), Enumerable.Range(0, a).Select(i => new Term(x[i, j], 1)), 1);
                }

                for (var i = 0; i < a; i++)
                {
                    var w = Enumerable.Range(0, t).Select(_ => (double)r.Next(1, 10)).ToArray();
                    b.Le(N("agent", i), Enumerable.Range(0, t).Select(j => new Term(x[i, j], w[j])), Math.Ceiling(w.Sum() * 1.6 / a) + 5);
                }

                b.Objective(ObjectiveSense.Minimize, Enumerable.Range(0, a * t).Select(k => new Term(x[k / t, k % t], r.Next(1, 50))), 0, "cost");
                break;
            }

            case "knapsack":
            {
                var n = r.Next(10, 41);
                var x = Enumerable.Range(0, n).Select(j => b.Add(N("take", j), intType, 0, r.Next(1, 4))).ToArray();
                var w = Enumerable.Range(0, n).Select(_ => (double)r.Next(1, 30)).ToArray();
                var v = Enumerable.Range(0, n).Select(_ => (double)r.Next(1, 60)).ToArray();
                var vol = Enumerable.Range(0, n).Select(_ => (double)r.Next(1, 20)).ToArray();
                b.Le("weight", Enumerable.Range(0, n).Select(j => new Term(x[j], w[j])), Math.Round(w.Sum() * 0.6));
                b.Le("volume", Enumerable.Range(0, n).Select(j => new Term(x[j], vol[j])), Math.Round(vol.Sum() * 0.7));
                b.Objective(ObjectiveSense.Maximize, Enumerable.Range(0, n).Select(j => new Term(x[j], v[j])), 0, "value");
                break;
            }

            case "facility":
            {
                int fac = r.Next(3, 7), c = r.Next(4, 9);
                var demand = Enumerable.Range(0, c).Select(_ => r.Next(5, 30)).ToArray();
                var y = Enumerable.Range(0, fac).Select(j => b.Add(N("open", j), binType, 0, 1)).ToArray();
                var x = new int[c, fac];
                for (var i = 0; i < c; i++)
                {
                    for (var j = 0; j < fac; j++)
                    {
                        x[i, j] = b.Add(N("serve", i, j), VariableType.Continuous, 0, 1);
                    }
                }

                for (var i = 0; i < c; i++)
                {
                    b.Eq(N("customer", i), Enumerable.Range(0, fac).Select(j => new Term(x[i, j], 1)), 1);
                }

                for (var j = 0; j < fac; j++)
                {
                    var cap = (int)Math.Ceiling(demand.Sum() * 1.5 / fac) + 5;
                    b.Le(N("capacity", j), Enumerable.Range(0, c).Select(i => new Term(x[i, j], demand[i])).Append(new Term(y[j], -cap)), 0);
                }

                b.Objective(ObjectiveSense.Minimize,
                    y.Select(j => new Term(j, r.Next(50, 200))).Concat(Enumerable.Range(0, c * fac).Select(k => new Term(x[k / fac, k % fac], r.Next(1, 40)))), 0, "cost");
                break;
            }

            case "setcover":
            {
                int n = r.Next(10, 41), m = r.Next(8, 21);
                var x = Enumerable.Range(0, n).Select(j => b.Add(N("pick", j), binType, 0, 1)).ToArray();
                for (var i = 0; i < m; i++)
                {
                    var members = Enumerable.Range(0, n).Where(_ => r.NextDouble() < 0.25).ToList();
                    while (members.Count < 2)
                    {
                        var j = r.Next(n);
                        if (!members.Contains(j))
                        {
                            members.Add(j);
                        }
                    }

                    b.Ge(N("cover", i), members.Select(j => new Term(x[j], 1)), 1);
                }

                b.Objective(ObjectiveSense.Minimize, x.Select(j => new Term(j, r.Next(1, 20))), 0, "cost");
                break;
            }

            case "scheduling":
            {
                int jobs = r.Next(4, 9), machines = r.Next(3, 7);
                var hours = Enumerable.Range(0, jobs).Select(_ => r.Next(5, 40)).ToArray();
                var cap = (int)Math.Ceiling(hours.Sum() * 1.3 / machines);
                var x = new int[jobs, machines];
                for (var j = 0; j < jobs; j++)
                {
                    for (var m = 0; m < machines; m++)
                    {
                        x[j, m] = b.Add(N("hours", j, m), intType, 0, cap);
                    }
                }

                for (var j = 0; j < jobs; j++)
                {
                    b.Eq(N("job", j), Enumerable.Range(0, machines).Select(m => new Term(x[j, m], 1)), hours[j]);
                }

                for (var m = 0; m < machines; m++)
                {
                    var speed = Enumerable.Range(0, jobs).Select(_ => (double)r.Next(1, 4)).ToArray();
                    b.Le(N("machine", m), Enumerable.Range(0, jobs).Select(j => new Term(x[j, m], speed[j])), cap * 2);
                }

                b.Objective(ObjectiveSense.Minimize, Enumerable.Range(0, jobs * machines).Select(k => new Term(x[k / machines, k % machines], r.Next(1, 25))), 0, "cost");
                break;
            }

            case "staffing":
            {
                int shifts = r.Next(10, 25), periods = r.Next(8, 17);
                var x = Enumerable.Range(0, shifts).Select(s => b.Add(N("staff", s), intType, 0, 30)).ToArray();
                var starts = Enumerable.Range(0, shifts).Select(_ => r.Next(periods)).ToArray();
                var lengths = Enumerable.Range(0, shifts).Select(_ => r.Next(2, 6)).ToArray();
                for (var t = 0; t < periods; t++)
                {
                    var covering = Enumerable.Range(0, shifts).Where(s => (t - starts[s] + periods) % periods < lengths[s]).ToList();
                    if (covering.Count == 0)
                    {
                        covering.Add(r.Next(shifts));
                        starts[covering[0]] = t;
                    }

                    b.Ge(N("period", t), covering.Select(s => new Term(x[s], 1)), r.Next(2, 15));
                }

                b.Objective(ObjectiveSense.Minimize, x.Select(s => new Term(s, r.Next(5, 30))), 0, "wages");
                break;
            }

            default:
                throw new ArgumentException($"unknown family '{family}' (known: {string.Join(", ", Families)})", nameof(family));
        }

        return b.Build();
    }

    /// <summary>The family of a generated instance's name (<c>diet-milp-0003</c> → <c>diet</c>), or null.</summary>
    public static string? FamilyOf(string name) => Families.FirstOrDefault(f => name.StartsWith(f + "-", StringComparison.Ordinal));
}
