using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Attune.Cli;

/// <summary>
/// The one place where the <c>attune</c> verbs bound their options. Each method adds a validator to
/// an option, so a bad value is refused while the command line is parsed, before the verb starts any
/// work: exit 2 and one line on stderr that names the option, the value given and what it accepts
/// (and no .NET type name). A verb declares its bounds where it declares the option:
/// <code>
/// var seconds = new Option&lt;double&gt;("--seconds") { DefaultValueFactory = _ =&gt; 1 }.Above(0, 86_400);
/// var threads = new Option&lt;int?&gt;("--threads").Range(1, OptionChecks.MaxThreads);
/// var output = new Option&lt;string&gt;("--out") { Required = true }.OutputFolder();
/// </code>
/// Doubles are always finite: NaN, ∞ and values beyond <see cref="double.MaxValue"/> are refused.
/// </summary>
public static class OptionChecks
{
    /// <summary>The most CPU threads a verb's <c>--threads</c> accepts.</summary>
    public const int MaxThreads = 1024;

    /// <summary><paramref name="min"/> ≤ value ≤ <paramref name="max"/>.</summary>
    public static Option<int> Range(this Option<int> option, int min, int max) =>
        Check(option, (int v) => v >= min && v <= max ? null : $"expected {Whole(min, max)}");

    /// <summary><paramref name="min"/> ≤ value ≤ <paramref name="max"/> when given.</summary>
    public static Option<int?> Range(this Option<int?> option, int min, int max) =>
        Check(option, (int? v) => v is null || (v >= min && v <= max) ? null : $"expected {Whole(min, max)}");

    /// <summary>A finite <paramref name="min"/> ≤ value ≤ <paramref name="max"/>.</summary>
    public static Option<double> Range(this Option<double> option, double min, double max) =>
        Check(option, (double v) => double.IsFinite(v) && v >= min && v <= max ? null : $"expected a number from {N(min)} to {N(max)}");

    /// <summary>A finite <paramref name="min"/> ≤ value ≤ <paramref name="max"/> when given.</summary>
    public static Option<double?> Range(this Option<double?> option, double min, double max) =>
        Check(option, (double? v) => v is not { } x || (double.IsFinite(x) && x >= min && x <= max) ? null : $"expected a number from {N(min)} to {N(max)}");

    /// <summary>A finite <paramref name="min"/> &lt; value ≤ <paramref name="max"/>.</summary>
    public static Option<double> Above(this Option<double> option, double min, double max) =>
        Check(option, (double v) => double.IsFinite(v) && v > min && v <= max ? null : $"expected a number above {N(min)} and at most {N(max)}");

    /// <summary>A file to write (<c>Option&lt;string&gt;</c> or <c>Option&lt;string?&gt;</c>): not a folder, and no part of its folder is a file.</summary>
    public static Option<T> OutputFile<T>(this Option<T> option) => Check(option, v => OutputProblem(v as string, folder: false));

    /// <summary>A folder to write into: not a file, and no part of its path is a file.</summary>
    public static Option<T> OutputFolder<T>(this Option<T> option) => Check(option, v => OutputProblem(v as string, folder: true));

    /// <summary>
    /// Addresses to listen on, separated by ';': each <c>http(s)://HOST[:PORT]</c> with HOST a name,
    /// an address, <c>[IPv6]</c>, <c>*</c> or <c>+</c> and PORT 0 (a free one) to 65535.
    /// </summary>
    public static Option<string> Urls(this Option<string> option) => Check(option, (string? v) =>
    {
        var parts = (v ?? "").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length == 0 ? "expected an address such as http://127.0.0.1:5080"
            : parts.FirstOrDefault(p => !IsListenUrl(p)) is { } bad ? $"'{Printable(bad)}' is not an address such as http://127.0.0.1:5080" : null;
    });

    private static bool IsListenUrl(string url)
    {
        var scheme = url.StartsWith("http://", StringComparison.OrdinalIgnoreCase) ? "http://"
            : url.StartsWith("https://", StringComparison.OrdinalIgnoreCase) ? "https://" : null;
        if (scheme is null)
        {
            return false;
        }

        // Kestrel's wildcards are no URI host: check them as one.
        var rest = url[scheme.Length..].TrimEnd('/');
        if (rest.StartsWith('*') || rest.StartsWith('+'))
        {
            rest = "localhost" + rest[1..];
        }

        return Uri.TryCreate(scheme + rest, UriKind.Absolute, out var uri)
               && uri.AbsolutePath == "/" && uri.Query.Length == 0 && uri.UserInfo.Length == 0 && uri.Host.Length > 0
               && !rest.EndsWith(':');
    }

    /// <summary>
    /// Why <paramref name="path"/> cannot be written as a file (or a folder), or null when it can:
    /// checked before any work, so a wrong output never costs a finished run.
    /// </summary>
    public static string? OutputProblem(string? path, bool folder)
    {
        if (path is null)
        {
            return null;
        }

        if (string.IsNullOrWhiteSpace(path))
        {
            return "expected a path, got an empty one";
        }

        if (path.Contains('\0', StringComparison.Ordinal))
        {
            return "the path contains a NUL character";
        }

        string full;
        try
        {
            full = Path.GetFullPath(path);
        }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException)
        {
            return "not a usable path";
        }

        if (folder && File.Exists(full))
        {
            return "is a file; expected a folder";
        }

        if (!folder && Directory.Exists(full))
        {
            return "is a folder; expected a file";
        }

        for (var parent = Path.GetDirectoryName(full); !string.IsNullOrEmpty(parent); parent = Path.GetDirectoryName(parent))
        {
            if (File.Exists(parent))
            {
                return $"'{parent}' is a file, not a folder";
            }

            if (Directory.Exists(parent))
            {
                break;
            }
        }

        return null;
    }

    /// <summary>
    /// The one line for System.CommandLine's own "cannot parse" errors, without the .NET type name
    /// it names: e.g. <c>--seconds 'abc': expected a number</c>.
    /// </summary>
    internal static string? Reword(ParseError error)
    {
        if (!error.Message.StartsWith("Cannot parse argument", StringComparison.Ordinal))
        {
            return null;
        }

        var (name, type, tokens) = error.SymbolResult switch
        {
            OptionResult o => (o.Option.Name, o.Option.ValueType, o.Tokens),
            ArgumentResult a => (a.Argument.Name, a.Argument.ValueType, a.Tokens),
            _ => (null, null, null),
        };
        if (name is null || type is null)
        {
            return null;
        }

        var given = tokens is { Count: > 0 } ? string.Join(' ', tokens.Select(t => t.Value)) : "";
        return $"{name} '{Printable(given)}': expected {Describe(type)}";
    }

    /// <summary>What a value of <paramref name="type"/> looks like, in words.</summary>
    internal static string Describe(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? (type.IsArray ? type.GetElementType()! : type);
        if (type == typeof(int) || type == typeof(long) || type == typeof(short) || type == typeof(uint) || type == typeof(ulong))
        {
            return "a whole number";
        }

        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal))
        {
            return "a number";
        }

        if (type == typeof(bool))
        {
            return "true or false";
        }

        return type.IsEnum ? "one of " + string.Join(", ", Enum.GetNames(type).Select(n => n.ToLowerInvariant())) : "a value";
    }

    private static Option<T> Check<T>(Option<T> option, Func<T?, string?> problem)
    {
        option.Validators.Add(result =>
        {
            T? value;
            try
            {
                value = result.GetValueOrDefault<T>();
            }
            catch (InvalidOperationException)
            {
                return; // not a T at all: System.CommandLine reports that (see Reword)
            }

            if (problem(value) is { } why)
            {
                var given = result.Tokens.Count > 0 ? string.Join(' ', result.Tokens.Select(t => t.Value)) : Convert.ToString(value, CultureInfo.InvariantCulture) ?? "";
                result.AddError($"{option.Name} {(given.Length == 0 ? "''" : Printable(given))}: {why}");
            }
        });
        return option;
    }

    private static string Whole(int min, int max) =>
        max == int.MaxValue ? $"a whole number of at least {min}" : $"a whole number from {min} to {max}";

    private static string N(double x) => x.ToString("G", CultureInfo.InvariantCulture);

    /// <summary>At most 60 characters of <paramref name="s"/>, control characters as '?': a message never echoes raw binary.</summary>
    private static string Printable(string s)
    {
        var clean = new string([.. s.Take(60).Select(c => char.IsControl(c) || char.IsSurrogate(c) ? '?' : c)]);
        return s.Length > 60 ? clean + "…" : clean;
    }
}
