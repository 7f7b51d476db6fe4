using System.Text.Json;
using System.Text.Json.Serialization;
using Attune.Core.Errors;
using Attune.Core.IO;
using Attune.Core.Randomness;

namespace Attune.Optimization;

/// <summary>The label of one pair (<c>label.json</c>).</summary>
public sealed record PairLabel(
    [property: JsonPropertyName("base")] string Base,
    [property: JsonPropertyName("family")] string? Family,
    [property: JsonPropertyName("kind")] string Kind,
    [property: JsonPropertyName("transformation")] string Transformation,
    [property: JsonPropertyName("equivalent")] bool Equivalent,
    [property: JsonPropertyName("description")] string Description);

/// <summary>One pair of the evaluation set, loaded.</summary>
public sealed record EquivaPair(string Directory, PairLabel Label, Formulation Original, Formulation Transformed, LinearMap? TrueMap);

/// <summary>
/// The evaluation set on disk: <c>DIR/&lt;base&gt;/&lt;transformation&gt;/</c> holds <c>original.lp</c>,
/// <c>transformed.lp</c>, <c>label.json</c> and, for equivalent pairs, <c>map.json</c> (the true map).
/// </summary>
public static class EquivaDataset
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    /// <summary>Writes <paramref name="count"/> generated base instances as LP files; returns their paths.</summary>
    public static IReadOnlyList<string> WriteBase(string directory, int count, int seed, TextWriter? log = null)
    {
        Directory.CreateDirectory(directory);
        var paths = new List<string>();
        foreach (var f in BaseInstances.Generate(count, seed))
        {
            var path = Path.Combine(directory, f.Name + ".lp");
            FormulationFile.Write(path, f);
            paths.Add(path);
            log?.WriteLine($"base {f}");
        }

        return paths;
    }

    /// <summary>Reads every .lp and .mps file of <paramref name="directory"/> (sorted by name).</summary>
    public static IReadOnlyList<Formulation> ReadBase(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new AttuneInputException("folder not found", directory);
        }

        var files = Directory.EnumerateFiles(directory).Where(FormulationFile.IsFormulationFile).Order(StringComparer.Ordinal).ToList();
        if (files.Count == 0)
        {
            throw new AttuneInputException("no .lp or .mps files", directory);
        }

        return [.. files.Select(FormulationFile.Read)];
    }

    /// <summary>Applies every transformation to every base formulation and writes the pairs; returns how many.</summary>
    public static int Generate(IReadOnlyList<Formulation> bases, string output, int seed, IReadOnlyList<string>? transformations = null, TextWriter? log = null)
    {
        transformations ??= Transformations.All;
        var written = 0;
        for (var k = 0; k < bases.Count; k++)
        {
            var f = bases[k];
            if (!OrToolsSolver.Solve(f).IsOptimal)
            {
                log?.WriteLine($"skip {f.Name}: it has no optimum");
                continue;
            }

            var family = BaseInstances.FamilyOf(f.Name);
            var kind = f.IsMixedInteger ? "MILP" : "LP";
            for (var t = 0; t < transformations.Count; t++)
            {
                var name = transformations[t];
                var rng = Seeds.Create(Seeds.Derive(seed, k), t);
                Func<Formulation>? unrelated = family is not null
                    ? () => BaseInstances.Generate(family, f.IsMixedInteger, Seeds.Derive(seed ^ 0x5EED, k * 31 + t), f.Name)
                    : OtherBase(bases, k, rng);
                var pair = Transformations.Apply(name, f, rng, unrelated);
                if (pair is null)
                {
                    continue;
                }

                var dir = Path.Combine(output, f.Name, name);
                Directory.CreateDirectory(dir);
                FormulationFile.Write(Path.Combine(dir, "original.lp"), f);
                FormulationFile.Write(Path.Combine(dir, "transformed.lp"), pair.Transformed);
                var label = new PairLabel(f.Name, family, kind, name, pair.Equivalent, pair.Description);
                AtomicFile.WriteAllText(Path.Combine(dir, "label.json"), JsonSerializer.Serialize(label, Json) + "\n");
                if (pair.TrueMap is not null)
                {
                    AtomicFile.WriteAllText(Path.Combine(dir, "map.json"), pair.TrueMap.ToJsonString() + "\n");
                }

                written++;
            }

            log?.WriteLine($"[{k + 1}/{bases.Count}] {f.Name}: pairs written");
        }

        return written;
    }

    private static Func<Formulation>? OtherBase(IReadOnlyList<Formulation> bases, int k, Random rng)
    {
        var others = Enumerable.Range(0, bases.Count).Where(i => i != k && bases[i].IsMixedInteger == bases[k].IsMixedInteger).ToList();
        return others.Count == 0 ? null : () => bases[others[rng.Next(others.Count)]];
    }

    /// <summary>Loads every pair under <paramref name="directory"/> (every folder with a label.json).</summary>
    public static IReadOnlyList<EquivaPair> Load(string directory)
    {
        if (!Directory.Exists(directory))
        {
            throw new AttuneInputException("dataset folder not found", directory);
        }

        var pairs = new List<EquivaPair>();
        foreach (var labelPath in Directory.EnumerateFiles(directory, "label.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var dir = Path.GetDirectoryName(labelPath)!;
            PairLabel? label;
            try
            {
                label = JsonSerializer.Deserialize<PairLabel>(File.ReadAllText(labelPath));
            }
            catch (JsonException ex)
            {
                throw new AttuneInputException($"not a valid label ({Attune.Core.IO.JsonFile.Describe(ex)})", labelPath, ex.LineNumber + 1);
            }

            if (label is null || string.IsNullOrEmpty(label.Transformation))
            {
                throw new AttuneInputException("missing", labelPath, null, "transformation");
            }

            var mapPath = Path.Combine(dir, "map.json");
            pairs.Add(new EquivaPair(dir, label, FormulationFile.Read(Path.Combine(dir, "original.lp")), FormulationFile.Read(Path.Combine(dir, "transformed.lp")),
                File.Exists(mapPath) ? LinearMap.Read(mapPath) : null));
        }

        if (pairs.Count == 0)
        {
            throw new AttuneInputException("no pairs (folders with label.json) found; make one with 'attune equiv generate'", directory);
        }

        return pairs;
    }
}
