using System.Globalization;

namespace Attune.Benchmarks;

/// <summary>The benchmarks' options: <c>--name value</c> pairs read from the command line, with defaults.</summary>
internal static class BenchArgs
{
    /// <summary>The value after <paramref name="name"/>, or null when the option is absent.</summary>
    public static string? Value(string[] args, string name)
    {
        var i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    public static string Value(string[] args, string name, string fallback) => Value(args, name) ?? fallback;

    public static int Int(string[] args, string name, int fallback) =>
        Value(args, name) is { } v ? int.Parse(v, CultureInfo.InvariantCulture) : fallback;
}
