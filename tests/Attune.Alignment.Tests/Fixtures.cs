using System.Text.Json;

namespace Attune.Alignment.Tests;

/// <summary>The golden outputs of the Hugging Face reference stack (see Fixtures/hf-tiny/README.md).</summary>
internal static class Fixtures
{
    public static readonly string Root = Path.Combine(AppContext.BaseDirectory, "Fixtures", "hf-tiny");

    public static string Tokenizer => Path.Combine(Root, "tokenizer.json");

    public static string Model(string arch, string which = "policy") => Path.Combine(Root, arch, which);

    public static JsonElement Expected(string arch) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, arch, "expected.json"))).RootElement;

    public static void AssertRelative(double expected, double actual, double tolerance, string what) =>
        Assert.True(Math.Abs(expected - actual) <= tolerance * Math.Abs(expected), $"{what}: expected {expected}, got {actual}");
}
