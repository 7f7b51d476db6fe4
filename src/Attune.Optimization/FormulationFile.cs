using Attune.Core.Errors;
using Attune.Core.IO;

namespace Attune.Optimization;

/// <summary>Reads and writes formulations by file extension: <c>.lp</c>, <c>.mps</c> (free or fixed, detected), <c>.fixed.mps</c> written fixed.</summary>
public static class FormulationFile
{
    public static bool IsFormulationFile(string path) =>
        path.EndsWith(".lp", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".mps", StringComparison.OrdinalIgnoreCase);

    public static Formulation Read(string path)
    {
        if (!File.Exists(path))
        {
            throw AttuneInputException.FileNotFound(path);
        }

        var name = Path.GetFileName(path);
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        name = dot > 0 ? name[..dot] : name;
        var text = File.ReadAllText(path);
        if (path.EndsWith(".lp", StringComparison.OrdinalIgnoreCase))
        {
            return LpFormat.Parse(text, path, name);
        }

        if (path.EndsWith(".mps", StringComparison.OrdinalIgnoreCase))
        {
            var flavor = path.EndsWith(".fixed.mps", StringComparison.OrdinalIgnoreCase) ? MpsFlavor.Fixed : MpsFlavor.Auto;
            return MpsFormat.Parse(text, path, flavor, name);
        }

        throw new AttuneInputException("unknown formulation format: expected a .lp or .mps file", path);
    }

    public static void Write(string path, Formulation f)
    {
        var text = path.EndsWith(".mps", StringComparison.OrdinalIgnoreCase)
            ? MpsFormat.Write(f, path.EndsWith(".fixed.mps", StringComparison.OrdinalIgnoreCase))
            : LpFormat.Write(f);
        AtomicFile.WriteAllText(path, text);
    }
}
