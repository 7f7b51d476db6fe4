using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.CSharp.Syntax;

namespace Attune.Agents.Sandbox;

/// <summary>A parameter of a tool's entry method: its name and C# type as written.</summary>
public sealed record ToolParameter(string Name, string Type, bool Optional = false);

/// <summary>Tool code that passed the allow-list check and compiled: the assembly image and its entry method.</summary>
public sealed record CompiledTool(string Key, byte[] Image, string TypeName, string MethodName, IReadOnlyList<ToolParameter> Parameters, string ReturnType)
{
    /// <summary>The names of the parameters without a default value.</summary>
    public IEnumerable<string> RequiredParameters => Parameters.Where(p => !p.Optional).Select(p => p.Name);

    /// <summary>The entry method's signature, e.g. <c>string Solve24(int[] numbers)</c>.</summary>
    public string Signature => $"{ReturnType} {MethodName}({string.Join(", ", Parameters.Select(p => p.Type + " " + p.Name))})";
}

/// <summary>Why tool code was refused: allow-list violations or compiler errors.</summary>
public sealed class ToolRejectedException(string message, IReadOnlyList<string> reasons) : Exception(message + ": " + string.Join("; ", reasons))
{
    public IReadOnlyList<string> Reasons { get; } = reasons;
}

/// <summary>
/// Checks tool source against <see cref="SourceGuard"/> and compiles it with Roslyn. A tool
/// source is one compilation unit with exactly one public static method (the entry; helpers must
/// not be public) inside a non-generic class. Results are cached by the SHA-256 of the source.
/// </summary>
public static class ToolCompiler
{
    private static readonly ConcurrentDictionary<string, CompiledTool> Cache = new(StringComparer.Ordinal);

    private static readonly Lazy<ImmutableArray<MetadataReference>> References = new(() =>
    {
        // The framework's own assemblies, so that hostile code binds (and is refused by name) rather than failing to resolve.
        var dir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        return [.. Directory.GetFiles(dir, "*.dll")
            .Where(f => Path.GetFileName(f) is var n && (n.StartsWith("System.", StringComparison.Ordinal) || n is "netstandard.dll" or "mscorlib.dll" or "Microsoft.Win32.Primitives.dll"))
            .Where(IsManaged)
            .Select(f => (MetadataReference)MetadataReference.CreateFromFile(f))];
    });

    /// <summary>How the message of a <see cref="ToolRejectedException"/> for allow-list violations begins.</summary>
    public const string RefusedByAllowList = "tool source refused by the allow-list";

    private static readonly CSharpParseOptions ParseOptions = new(LanguageVersion.Latest);

    /// <summary>The SHA-256 (hex) of a source: the cache key and the tool host's assembly key.</summary>
    public static string KeyOf(string source) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(source)));

    /// <summary>The compilation of one tool source against the framework's assemblies, before any check (unsafe code not allowed).</summary>
    internal static CSharpCompilation CreateCompilation(string source, string assemblyName = "tool") =>
        CSharpCompilation.Create(assemblyName, [CSharpSyntaxTree.ParseText(source, ParseOptions)], References.Value,
            new CSharpCompilationOptions(OutputKind.DynamicallyLinkedLibrary, optimizationLevel: OptimizationLevel.Release, allowUnsafe: false,
                nullableContextOptions: NullableContextOptions.Disable, concurrentBuild: false, deterministic: true));

    /// <summary>Checks and compiles <paramref name="source"/>; throws <see cref="ToolRejectedException"/> when refused.</summary>
    public static CompiledTool Compile(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        var key = KeyOf(source);
        if (Cache.TryGetValue(key, out var cached))
        {
            return cached;
        }

        if (source.Length > 100_000)
        {
            throw new ToolRejectedException("tool source refused", ["source longer than 100000 characters"]);
        }

        var compilation = CreateCompilation(source, "tool_" + key[..16]);
        var tree = compilation.SyntaxTrees[0];
        var errors = compilation.GetDiagnostics().Where(d => d.Severity == DiagnosticSeverity.Error)
            .Select(d => $"line {d.Location.GetLineSpan().StartLinePosition.Line + 1}: {d.Id} {d.GetMessage(System.Globalization.CultureInfo.InvariantCulture)}")
            .Take(10).ToList();
        var violations = SourceGuard.Check(compilation);
        if (violations.Count > 0)
        {
            throw new ToolRejectedException(RefusedByAllowList, [.. violations.Select(v => v.ToString())]);
        }

        if (errors.Count > 0)
        {
            throw new ToolRejectedException("tool source does not compile", errors);
        }

        var model = compilation.GetSemanticModel(tree);
        var entries = tree.GetRoot().DescendantNodes().OfType<MethodDeclarationSyntax>()
            .Select(m => model.GetDeclaredSymbol(m)!)
            .Where(m => m.IsStatic && m.DeclaredAccessibility == Accessibility.Public && m.ContainingType.DeclaredAccessibility == Accessibility.Public)
            .ToList();
        if (entries.Count != 1)
        {
            throw new ToolRejectedException("tool source refused", [$"expected exactly one public static method in a public class, found {entries.Count}"]);
        }

        var entry = entries[0];
        if (entry.ContainingType.IsGenericType || entry.IsGenericMethod || entry.ReturnsVoid || entry.Parameters.Any(p => p.RefKind != RefKind.None))
        {
            throw new ToolRejectedException("tool source refused", ["the entry method must be non-generic, return a value and take plain (not ref/out) parameters"]);
        }

        using var image = new MemoryStream();
        var emitted = compilation.Emit(image);
        if (!emitted.Success)
        {
            throw new ToolRejectedException("tool source does not compile", [.. emitted.Diagnostics.Where(d => d.Severity == DiagnosticSeverity.Error).Select(d => d.ToString()).Take(10)]);
        }

        var tool = new CompiledTool(key, image.ToArray(), SourceGuard.FullName(entry.ContainingType), entry.Name,
            [.. entry.Parameters.Select(p => new ToolParameter(p.Name, p.Type.ToDisplayString(), p.HasExplicitDefaultValue))], entry.ReturnType.ToDisplayString());
        Cache[key] = tool;
        return tool;
    }

    private static bool IsManaged(string path)
    {
        try
        {
            using var stream = File.OpenRead(path);
            using var pe = new System.Reflection.PortableExecutable.PEReader(stream);
            return pe.HasMetadata;
        }
        catch (BadImageFormatException)
        {
            return false;
        }
    }
}
