using Attune.Core.Data;
using Attune.Core.Errors;

namespace Attune.Core.Tests.Data;

public sealed class DataCatalogTests
{
    private static readonly string[] BbqCategories =
    [
        "Age", "Disability_status", "Gender_identity", "Nationality", "Physical_appearance", "Race_ethnicity",
        "Race_x_SES", "Race_x_gender", "Religion", "SES", "Sexual_orientation",
    ];

    [Fact]
    public void The_embedded_manifest_lists_the_five_data_sets()
    {
        Assert.Equal(["gameof24", "medhallu", "halueval", "bbq", "winobias"], DataCatalog.Default.Names);
        Assert.All(DataCatalog.Default.DataSets, d => Assert.False(string.IsNullOrWhiteSpace(d.Licence)));
    }

    [Fact]
    public void Bbq_has_all_eleven_categories_and_only_the_five_absent_ones_lack_a_checksum()
    {
        var bbq = DataCatalog.Default.Find("bbq");
        Assert.Equal(BbqCategories.Select(c => $"bbq/{c}.jsonl"), bbq.Files.Where(f => f.Path.EndsWith(".jsonl", StringComparison.Ordinal)).Select(f => f.Path));
        Assert.All(bbq.Files, f => Assert.Equal(new Uri("https://raw.githubusercontent.com/nyu-mll/BBQ/main/" + (f.Path == "bbq/LICENSE" ? "LICENSE" : "data/" + f.Path[4..])), f.Upstream));

        var unknown = DataCatalog.Default.DataSets.SelectMany(d => d.Files).Where(f => f.Sha256 is null).Select(f => f.Path);
        Assert.Equal(["bbq/Gender_identity.jsonl", "bbq/Race_ethnicity.jsonl", "bbq/Race_x_SES.jsonl", "bbq/Race_x_gender.jsonl", "bbq/SES.jsonl"], unknown);
    }

    [Fact]
    public void Winobias_has_type1_and_type2_pro_and_anti_dev_and_test_and_the_occupation_lists()
    {
        var paths = DataCatalog.Default.Find("WinoBias").Files.Select(f => f.Path).ToHashSet();
        foreach (var kind in new[] { "pro", "anti" })
        {
            foreach (var type in new[] { 1, 2 })
            {
                Assert.Contains($"winobias/{kind}_stereotyped_type{type}.txt.dev", paths);
                Assert.Contains($"winobias/{kind}_stereotyped_type{type}.txt.test", paths);
            }
        }

        Assert.Contains("winobias/male_occupations.txt", paths);
        Assert.Contains("winobias/female_occupations.txt", paths);
    }

    [Fact]
    public void Derived_files_say_so_and_have_no_upstream()
    {
        var medhallu = DataCatalog.Default.Find("medhallu");
        var halueval = DataCatalog.Default.Find("halueval");
        Assert.True(medhallu.MirrorOnly);
        Assert.True(halueval.MirrorOnly);
        Assert.Contains("Parquet", medhallu.Files[0].Derived, StringComparison.Ordinal);
        Assert.Contains("500-row sample", halueval.Files[0].Derived, StringComparison.Ordinal);
        Assert.False(DataCatalog.Default.Find("gameof24").MirrorOnly);
        Assert.False(DataCatalog.Default.Find("bbq").MirrorOnly);
    }

    [Fact]
    public void Unknown_names_and_files_list_what_is_known()
    {
        var ex = Assert.Throws<AttuneInputException>(() => DataCatalog.Default.Find("imagenet"));
        Assert.Equal("unknown data set 'imagenet' (known: gameof24, medhallu, halueval, bbq, winobias)", ex.Message);

        var file = Assert.Throws<AttuneInputException>(() => DataCatalog.Default.Select(["bbq/Nope.jsonl"]));
        Assert.Contains("bbq/Age.jsonl", file.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Selectors_merge_files_of_the_same_set_in_manifest_order()
    {
        var selection = DataCatalog.Default.Select(["bbq/SES.jsonl", "gameof24", "bbq/Age.jsonl"]);
        Assert.Equal(["gameof24", "bbq"], selection.Select(s => s.DataSet.Name));
        Assert.Equal(["bbq/Age.jsonl", "bbq/SES.jsonl"], selection[1].Files.Select(f => f.Path));
        Assert.Equal(DataCatalog.Default.DataSets.Count, DataCatalog.Default.Select(["all"]).Count);
    }

    [Theory]
    [InlineData("""{"datasets":[{"name":"x","title":"t","description":"d","licence":"l","homepage":"https://h/","files":[{"path":"../x/a","upstream":null,"sha256":null,"size":null}]}]}""", "relative")]
    [InlineData("""{"datasets":[{"name":"x","title":"t","description":"d","licence":"l","homepage":"https://h/","files":[{"path":"x/a","upstream":null,"sha256":"ABC","size":null}]}]}""", "sha256")]
    [InlineData("""{"datasets":[{"name":"all","title":"t","description":"d","licence":"l","homepage":"https://h/","files":[{"path":"all/a","upstream":null,"sha256":null,"size":null}]}]}""", "not 'all'")]
    [InlineData("""{"datasets": [ {"name": 3""", "not a valid data set manifest")]
    public void Malformed_manifests_are_rejected(string json, string expected)
    {
        var ex = Assert.Throws<AttuneInputException>(() => DataCatalog.Parse(json, "test.json"));
        Assert.StartsWith("test.json", ex.Message, StringComparison.Ordinal);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Settings_follow_the_environment()
    {
        static Func<string, string?> Env(params (string, string)[] vars) => name => vars.FirstOrDefault(v => v.Item1 == name).Item2;

        Assert.Equal("/c/attune", DataSettings.FromEnvironment(Env(("ATTUNE_CACHE", "/c/attune"), ("XDG_CACHE_HOME", "/x"))).CacheRoot);
        Assert.Equal(Path.Combine("/x", "attune", "data"), DataSettings.FromEnvironment(Env(("XDG_CACHE_HOME", "/x"), ("HOME", "/h"))).CacheRoot);
        Assert.Equal(Path.Combine("/h", ".cache", "attune", "data"), DataSettings.FromEnvironment(Env(("HOME", "/h"))).CacheRoot);
        Assert.Null(DataSettings.FromEnvironment(Env(("HOME", "/h"))).Mirror);

        var file = new DataFile("bbq/Race x.jsonl", new Uri("https://example.invalid/u"), null, null);
        Assert.Equal("https://example.invalid/u", new DataSettings("/c").SourceOf(file));
        Assert.Equal("http://127.0.0.1:8080/m/bbq/Race%20x.jsonl", new DataSettings("/c", "http://127.0.0.1:8080/m").SourceOf(file));
        Assert.Equal(Path.Combine("/srv/data", "bbq", "Race x.jsonl"), new DataSettings("/c", "/srv/data").SourceOf(file));
    }
}
