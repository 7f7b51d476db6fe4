using Attune.Core.Errors;

namespace Attune.Interaction.Tests;

public class ScenarioReaderTests
{
    private static AttuneInputException Bad(string json) =>
        Assert.Throws<AttuneInputException>(() => ScenarioReader.Parse(json, "bad.json"));

    [Fact]
    public void Reads_every_part()
    {
        var s = ScenarioReader.Parse("""
            { "name": "x", "seed": 3, "users": 10, "items": 20, "dimension": 4, "topics": 2, "horizon": 5, "slate": 3,
              "initial": { "users": { "type": "gaussian", "sd": 0.5 }, "items": "sphere" },
              "user_model": { "type": "satiation", "gamma": [0.5, 0.6], "lambda": 1 },
              "choice": { "attention": 1, "temperature": 0.1, "outside": 0.2, "rating": { "type": "beta", "concentration": 5 }, "repeat": false },
              "recommender": { "type": "softmax", "temperature": 0.3, "base": { "type": "matrix_factorisation", "rank": 2 } },
              "compare": "popularity",
              "creators": { "type": "exposure_game", "temperature": 0.5, "dynamics": "best_response" },
              "metrics": [ "polarization", { "type": "homogenization", "pairs": "all" }, "diversity", "engagement", "creators", "drift" ],
              "interventions": [ { "step": 2, "recommender": "random" }, { "step": 3, "user_model": { "type": "static" } } ] }
            """, "x.json");
        Assert.Equal(3, s.Seed);
        Assert.Equal(20, s.Items);
        Assert.Equal(VectorDistribution.Gaussian, s.UserInit.Distribution);
        Assert.Equal(1, s.Choice.Attention);
        Assert.False(s.Choice.Repeat);
        Assert.Equal(0.2, s.Choice.OutsideOption);
        Assert.NotNull(s.Compare);
        Assert.Equal(6, s.Metrics.Count);
        Assert.Equal(2, s.Interventions.Count);
        var r = Simulation.Run(s);
        Assert.Equal(5, r.Steps);
    }

    [Fact]
    public void Unknown_part_names_the_field()
    {
        var e = Bad("""{ "recommender": { "type": "collaborative_magic" } }""");
        Assert.Equal("recommender.type", e.Field);
        Assert.Contains("unknown part 'collaborative_magic'", e.Message);
        Assert.Contains("content_filtering", e.Message);
        Assert.StartsWith("bad.json: field 'recommender.type'", e.Message);
    }

    [Fact]
    public void Unknown_part_given_as_a_name()
    {
        Assert.Equal("user_model.type", Bad("""{ "user_model": "stubborn" }""").Field);
        Assert.Equal("metrics[1].type", Bad("""{ "metrics": [ "drift", "happiness" ] }""").Field);
    }

    [Fact]
    public void Bad_parameter_names_the_field()
    {
        var e = Bad("""{ "user_model": { "type": "drift", "rate": 2 } }""");
        Assert.Equal("user_model.rate", e.Field);
        Assert.Contains("must be in [0, 1], got 2", e.Message);
        Assert.Equal("choice.rating.sd", Bad("""{ "choice": { "rating": { "type": "gaussian", "sd": "wide" } } }""").Field);
        Assert.Equal("slate", Bad("""{ "items": 5, "slate": 6 }""").Field);
        Assert.Equal("interventions[0].step", Bad("""{ "horizon": 10, "interventions": [ { "step": 10, "recommender": "random" } ] }""").Field);
        Assert.Equal("user_model.gamma", Bad("""{ "topics": 3, "user_model": { "type": "satiation", "gamma": [0.5, 0.5] } }""").Field);
        Assert.Equal("recommender.base.type", Bad("""{ "recommender": { "type": "softmax", "base": "nope" } }""").Field);
    }

    [Fact]
    public void Unknown_field_is_a_typo()
    {
        var e = Bad("""{ "recommender": { "type": "content_filtering", "evrey": 3 } }""");
        Assert.Equal("recommender.evrey", e.Field);
        Assert.Equal("horizn", Bad("""{ "horizn": 3 }""").Field);
    }

    [Fact]
    public void Malformed_json_names_the_line()
    {
        var e = Bad("{\n  \"users\": 10,\n  \"items\": ,\n}");
        Assert.Equal(3, e.Line);
    }

    [Fact]
    public void Every_example_scenario_loads()
    {
        var dir = Path.Combine(FindRoot(), "examples", "interaction");
        var files = Directory.GetFiles(dir, "*.json");
        Assert.True(files.Length >= 5);
        foreach (var f in files)
        {
            var s = ScenarioReader.Load(f);
            Assert.True(s.Horizon > 0, f);
        }
    }

    [Fact]
    public void Compare_value_is_a_name_or_an_object()
    {
        Assert.NotNull(ScenarioReader.ParseRecommender("oracle", "--compare").Factory());
        Assert.Contains("every=5", ScenarioReader.ParseRecommender("""{"type":"content_filtering","every":5}""", "--compare").Description);
        Assert.Equal("compare.type", Assert.Throws<AttuneInputException>(() => ScenarioReader.ParseRecommender("magic", "--compare")).Field);
    }

    internal static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Attune.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("repository root not found");
    }
}
