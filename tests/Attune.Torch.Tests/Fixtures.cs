using System.Text.Json;

namespace Attune.Torch.Tests;

/// <summary>The golden outputs of the Hugging Face reference stack (see Fixtures/hf-tiny/README.md).</summary>
internal static class Fixtures
{
    public static readonly string Root = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static string Model(string arch, string which = "policy") => Path.Combine(Root, "hf-tiny", arch, which);

    public static JsonElement Expected(string arch) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Root, "hf-tiny", arch, "expected.json"))).RootElement;

    public static long[] Longs(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt64())];

    public static float[] Floats(JsonElement e) => [.. e.EnumerateArray().Select(x => (float)x.GetDouble())];
}
