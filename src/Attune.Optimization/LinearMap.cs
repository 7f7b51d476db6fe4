using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Attune.Core.Errors;

namespace Attune.Optimization;

/// <summary>
/// A linear map f from α′'s variables to α's: each x_v of α is Σ_j M[v, j] · x′_j, with no constant
/// term (a constant map onto α's own optimum would make any two solvable problems "equivalent").
/// Variables the map does not mention are mapped to 0. Keys are variable names.
/// </summary>
public sealed class LinearMap
{
    public LinearMap(IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> entries) => Entries = entries;

    public IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> Entries { get; }

    public static LinearMap Identity(Formulation original) =>
        new(original.Variables.ToDictionary(v => v.Name, v => (IReadOnlyDictionary<string, double>)new Dictionary<string, double> { [v.Name] = 1 }, StringComparer.Ordinal));

    /// <summary>α's point for α′'s point <paramref name="xPrime"/>. Unknown α′ names are an input error.</summary>
    public double[] Apply(Formulation original, Formulation transformed, IReadOnlyList<double> xPrime)
    {
        var x = new double[original.Variables.Count];
        foreach (var (target, combination) in Entries)
        {
            var i = original.IndexOf(target);
            if (i < 0)
            {
                throw new AttuneInputException($"the map names '{target}', which is not a variable of the original formulation");
            }

            var sum = 0.0;
            foreach (var (source, coefficient) in combination)
            {
                var j = transformed.IndexOf(source);
                if (j < 0)
                {
                    throw new AttuneInputException($"the map of '{target}' uses '{source}', which is not a variable of the transformed formulation");
                }

                sum += coefficient * xPrime[j];
            }

            x[i] = sum;
        }

        return x;
    }

    public JsonObject ToJson()
    {
        var o = new JsonObject();
        foreach (var (target, combination) in Entries.OrderBy(e => e.Key, StringComparer.Ordinal))
        {
            var inner = new JsonObject();
            foreach (var (source, c) in combination)
            {
                inner[source] = c;
            }

            o[target] = inner;
        }

        return o;
    }

    public string ToJsonString() => ToJson().ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    public static LinearMap Read(string path)
    {
        if (!File.Exists(path))
        {
            throw new AttuneInputException("map file not found", path);
        }

        return Parse(File.ReadAllText(path), path);
    }

    /// <summary>Parses <c>{"x": {"x1": 1, "x2": 1}, "y": {"y_scaled": 2.5}}</c>.</summary>
    public static LinearMap Parse(string json, string? file = null)
    {
        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new AttuneInputException($"not valid JSON ({Attune.Core.IO.JsonFile.Describe(ex)})", file, ex.LineNumber + 1);
        }

        if (root is not JsonObject obj)
        {
            throw new AttuneInputException("a map is a JSON object {\"original variable\": {\"transformed variable\": coefficient, ...}}", file);
        }

        var entries = new Dictionary<string, IReadOnlyDictionary<string, double>>(StringComparer.Ordinal);
        foreach (var (target, value) in obj)
        {
            var combination = new Dictionary<string, double>(StringComparer.Ordinal);
            if (value is JsonObject inner)
            {
                foreach (var (source, c) in inner)
                {
                    if (c is not JsonValue jv || !jv.TryGetValue<double>(out var d))
                    {
                        throw new AttuneInputException($"the coefficient of '{source}' is not a number", file, null, target);
                    }

                    combination[source] = d;
                }
            }
            else if (value is not null && !(value is JsonValue s && s.TryGetValue<string>(out var text) && text == "none"))
            {
                throw new AttuneInputException("expected an object of coefficients or \"none\"", file, null, target);
            }

            entries[target] = combination;
        }

        return new LinearMap(entries);
    }

    public override string ToString() =>
        string.Join("; ", Entries.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e =>
            e.Key + " = " + (e.Value.Count == 0 ? "0" : string.Join(" + ", e.Value.Select(c => c.Value.ToString("G6", CultureInfo.InvariantCulture) + "·" + c.Key)))));
}
